"""Add and edit an integration: the plugin catalogue, then a settings form generated from the plugin's
JSON Schema (see app.admin.config_form). Saving and testing go through the JSON API."""

from __future__ import annotations

from flask import abort, jsonify, render_template

from app.admin import access, bp
from app.admin.config_form import insertables, sections, widgets
from app.admin.filters import when
from app.admin.message_picture import picture
from app.admin.submission_search import summary
from app.api.plugins import config_json
from app.api.preview import build_preview
from app.api.util import json_body
from app.errors import APIError, api_error_response
from app.models import Form, Submission
from app.models.search_terms import newest_live
from app.services import services

RECENT = 10  # submissions offered for the preview


def _editable(form: Form) -> None:
    if not access.can_edit(form.workspace_id):
        abort(403)


def _recent(form: Form) -> list[dict[str, str]]:
    """The form's latest submissions, for the preview's choice."""
    docs = newest_live(Submission._get_collection(), str(form.id), 0, RECENT, {"data": 1, "created_at": 1})
    return [
        {"id": str(d["_id"]), "label": f"{summary(d.get('data'), form) or d['_id']} · {when(d.get('created_at'))}"}
        for d in docs
    ]


def _described(plugin_id: str) -> dict:
    if services().plugins.get(plugin_id) is None:
        abort(404)
    return services().plugins.describe(plugin_id)


@bp.get("/forms/<form_id>/integrations/new")
def catalogue(form_id: str):
    form = access.form_or_404(form_id)
    _editable(form)
    plugins = list(services().plugins.describe_all())
    categories = sorted({p["category"] for p in plugins})
    return render_template("admin/catalogue.html", form=form, plugins=plugins, categories=categories)


@bp.get("/forms/<form_id>/integrations/new/<plugin_id>")
def new_integration(form_id: str, plugin_id: str):
    form = access.form_or_404(form_id)
    _editable(form)
    plugin = _described(plugin_id)
    return render_template(
        "admin/integration.html",
        form=form,
        plugin=plugin,
        config=None,
        sections=sections(widgets(plugin["config_schema"])),
        insertables=insertables(form.fields),
        recent=_recent(form),
        name=plugin["name"],
        enabled=True,
        triggers=["form.submitted"],
        editable=True,
    )


@bp.get("/integrations/<config_id>")
def edit_integration(config_id: str):
    cfg, form = access.config_or_404(config_id)
    plugin = _described(cfg.plugin_id)
    shown = config_json(cfg)["config"]  # secrets masked, as the API returns them
    return render_template(
        "admin/integration.html",
        form=form,
        plugin=plugin,
        config=cfg,
        sections=sections(widgets(plugin["config_schema"], shown)),
        insertables=insertables(form.fields),
        recent=_recent(form),
        name=cfg.name,
        enabled=cfg.enabled,
        triggers=list(cfg.trigger_events),
        editable=access.can_edit(form.workspace_id),
    )


@bp.post("/plugins/<plugin_id>/preview")
def preview_picture(plugin_id: str):
    """The API's preview (same body, same answer) plus ``html``: the picture of the message, rendered here
    (templates/admin/_preview.html). Errors are the API's JSON errors, for the editor to place."""
    try:
        answer = build_preview(plugin_id, json_body())
    except APIError as err:
        return api_error_response(err)
    shown = answer["preview"]
    html = render_template("admin/_preview.html", picture=picture(plugin_id, shown)) if shown else None
    return jsonify({**answer, "html": html})
