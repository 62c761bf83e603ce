"""Preview: what an integration would send for a recent submission (or a sample made from the form's
fields), built by the plugin's own code through the real templates, and not sent. Used by the settings
editor; the config may be unsaved (a saved integration's secrets are kept when left blank)."""

from __future__ import annotations

from typing import Any

import marshmallow
from flask import current_app, jsonify
from marshmallow import RAISE, Schema, fields

from app.api import bp
from app.api.plugins import plugin_or_404
from app.api.scope import WRITE, scoped_or_404
from app.api.util import json_body, load
from app.contract.schema import validate
from app.engine.dispatch import event_key, snapshot
from app.errors import APIError, invalid
from app.models import Form, PluginConfig, Submission, utcnow
from app.samples import example_data
from app.services import services
from app.signals import FormEvent


class PreviewIn(Schema):
    class Meta:
        unknown = RAISE

    config = fields.Raw(required=True)
    form_id = fields.String(required=True)
    submission_id = fields.String(load_default=None, allow_none=True)
    config_id = fields.String(load_default=None, allow_none=True)


class PreviewOut(Schema):
    preview = fields.Dict(allow_none=True, metadata={"description": "What would be sent; null if unknown"})
    error = fields.String(allow_none=True, metadata={"description": "Why it could not be built"})
    sample = fields.Boolean(metadata={"description": "True when built from sample data"})


@bp.post("/plugins/<plugin_id>/preview")
def preview_config(plugin_id: str):
    return jsonify(build_preview(plugin_id, json_body()))


def build_preview(plugin_id: str, raw: Any) -> dict[str, Any]:
    """``{"preview", "error", "sample"}`` for a request body of ``PreviewIn``'s shape; APIError (404, 422)
    when the body, the form, the saved config or the submission is not right."""
    plugin = plugin_or_404(plugin_id)
    body = load(PreviewIn(), raw)
    form = scoped_or_404(Form, body["form_id"], "form", WRITE)
    schema = plugin.config_schema()
    previous = None
    if body["config_id"]:
        saved = scoped_or_404(PluginConfig, body["config_id"], "plugin config", WRITE)
        if saved.form_id != str(form.id) or saved.plugin_id != plugin.id:
            raise APIError(422, "validation_error", "That integration belongs to another form or plugin.")
        previous = services().secrets.open(schema, saved.config)
    try:
        config = validate(schema, body["config"], previous)
    except marshmallow.ValidationError as err:
        raise invalid({"config": err.messages}) from None
    submission = None
    if body["submission_id"]:
        sub = scoped_or_404(Submission, body["submission_id"], "submission")
        if sub.form_id != str(form.id):
            raise APIError(422, "validation_error", "That submission belongs to another form.")
        submission = Submission._get_collection().find_one({"_id": sub.id})
    else:
        now = utcnow()
        submission = {
            "_id": "sample",
            "data": example_data(form),
            "revision": 1,
            "created_at": now,
            "updated_at": now,
        }
    event = FormEvent(
        "form.submitted",
        str(form.id),
        event_key("form.submitted", submission["_id"], 1),
        utcnow(),
        str(submission["_id"]),
        submission.get("revision", 1),
    )
    form_doc = Form._get_collection().find_one({"_id": form.id})
    answer = services(current_app).plugin_calls.preview(
        plugin, config, event.name, snapshot(form_doc, submission, event)
    )
    return {**answer, "sample": not body["submission_id"]}
