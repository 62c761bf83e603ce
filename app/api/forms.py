"""Forms: create, list, read, update (emits form.updated), delete."""

from __future__ import annotations

from flask import current_app, jsonify

from app import signals
from app.api import bp
from app.api.removals import who
from app.api.schemas import FormIn
from app.api.scope import WRITE, scoped_or_404, visible, workspace_for_new
from app.api.util import json_body, load, paginate
from app.engine import jobs as lifecycle
from app.engine import removal
from app.engine.dispatch import pending_marker
from app.engine.write_unit import WriteUnit
from app.errors import APIError, invalid
from app.models import Form, FormField, PluginConfig, utcnow
from app.signals import FormEvent


@bp.post("/forms")
def create_form():
    data = load(FormIn(), json_body())
    form = Form(
        name=data["name"],
        fields=[FormField(**f) for f in data["fields"]],
        workspace_id=workspace_for_new(data["workspace_id"]),
        accepting_submissions=data["accepting_submissions"],
        allowed_origins=data["allowed_origins"],
        retention_days=data["retention_days"],
    ).save()
    return jsonify(form.to_dict()), 201


@bp.get("/forms")
def list_forms():
    return jsonify(paginate(Form.objects(**visible()), Form.to_dict))


@bp.get("/forms/<form_id>")
def get_form(form_id: str):
    return jsonify(scoped_or_404(Form, form_id, "form").to_dict())


@bp.patch("/forms/<form_id>")
def update_form(form_id: str):
    form = scoped_or_404(Form, form_id, "form", WRITE)
    # Top-level fields may be left out; a field of the form still needs its own required keys.
    data = load(FormIn(partial=tuple(FormIn._declared_fields)), json_body())
    if data.get("workspace_id") not in (None, form.workspace_id):
        raise invalid({"workspace_id": ["A form cannot move to another workspace."]})
    revision = form.revision + 1
    changes = {"updated_at": utcnow(), "revision": revision, "dispatch_pending": True}
    if "name" in data:
        changes["name"] = data["name"]
    if "fields" in data:
        changes["fields"] = [FormField(**f).to_mongo().to_dict() for f in data["fields"]]
    for name in ("accepting_submissions", "allowed_origins", "retention_days"):
        if name in data:
            changes[name] = data[name]
    marker = pending_marker("form.updated", form.id, revision)
    updated = Form._get_collection().update_one(
        {"_id": form.id, "revision": form.revision}, {"$set": changes, "$push": {"pending_events": marker}}
    )
    if not updated.modified_count:
        raise APIError(409, "conflict", "The form changed meanwhile; reload and try again.")
    raw = Form._get_collection().find_one({"_id": form.id})
    event = FormEvent("form.updated", str(form.id), marker["key"], marker["at"], revision=revision)
    app = current_app._get_current_object()
    unit = WriteUnit(app)
    signals.form_updated.send(app, event=event, form=raw, unit=unit)
    unit.commit()
    return jsonify(Form._from_son(raw).to_dict())


@bp.delete("/forms/<form_id>")
def delete_form(form_id: str):
    """Delete a form and its integrations now; its submissions, with everything held about them, are removed
    in the background (engine.retention), in batches that do not hold the store (a form of 500,000 at once
    held it for minutes), as a removal record shows."""
    form = scoped_or_404(Form, form_id, "form", WRITE)
    lifecycle.cancel_waiting("The form was deleted.", form_id=str(form.id))
    PluginConfig.objects(form_id=str(form.id)).delete()
    pending = {"kind": "form_deletion", "form_id": str(form.id), "remaining": True}  # (one, if asked again)
    removal.add_to_record(pending, removal.Removed(), {"workspace_id": form.workspace_id, "detail": f"the form {form.name!r}", **who()})
    form.delete()
    return "", 204
