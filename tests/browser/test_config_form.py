"""The settings form generated from a plugin's JSON Schema (no browser needed)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.admin.config_form import widgets
from app.contract import MASK, Secret
from app.contract.schema import json_schema


class Column(Schema):
    header = fields.String(required=True)
    field = fields.String()


class Everything(Schema):
    url = fields.Url(required=True)
    channel = fields.String(metadata={"title": "Slack channel", "description": "Where to post"})
    template = fields.String(metadata={"x-widget": "textarea"})
    token = Secret(required=True)
    mode = fields.String(load_default="append", validate=validate.OneOf(["append", "replace"]))
    notify = fields.Boolean(load_default=True)
    retries = fields.Integer(validate=validate.Range(min=0, max=10))
    headers = fields.Dict(keys=fields.String(), values=fields.String())
    columns = fields.List(fields.Nested(Column))
    recipients = fields.List(fields.Email())


def by_name(current=None):
    return {w.name: w for w in widgets(json_schema(Everything), current)}


def test_each_json_schema_type_gets_its_widget():
    w = by_name()
    kinds = {name: widget.kind for name, widget in w.items()}
    assert kinds == {
        "url": "text",
        "channel": "text",
        "template": "textarea",
        "token": "secret",
        "mode": "select",
        "notify": "checkbox",
        "retries": "integer",
        "headers": "keyvalue",
        "columns": "mapping",
        "recipients": "lines",
    }
    assert w["url"].label == "URL" and w["url"].required and w["url"].input_type == "url"
    assert w["channel"].label == "Slack channel" and w["channel"].help == "Where to post"
    assert w["mode"].options == ["append", "replace"]
    assert (w["retries"].minimum, w["retries"].maximum) == (0, 10)
    assert [(c.name, c.required) for c in w["columns"].columns] == [("header", True), ("field", False)]


def test_a_new_form_starts_from_the_defaults():
    w = by_name()
    assert w["mode"].value == "append"
    assert w["notify"].value is True
    assert w["headers"].rows == [{}]  # one empty row to type into


def test_a_saved_config_is_shown_but_its_secret_never_is():
    saved = {
        "url": "https://example.com/hook",
        "token": MASK,
        "headers": {"X-Team": "support"},
        "columns": [{"header": "Email", "field": "email"}],
        "notify": False,
    }
    w = by_name(saved)
    assert w["url"].value == "https://example.com/hook"
    assert w["token"].value is None and w["token"].secret_set
    assert "leave blank to keep it" in w["token"].help
    assert w["headers"].rows == [{"key": "X-Team", "value": "support"}, {}]
    assert w["columns"].rows == [{"header": "Email", "field": "email"}, {}]
    assert w["notify"].value is False


def test_an_unset_secret_is_not_announced_as_saved():
    w = by_name({"url": "https://example.com", "token": None})
    assert not w["token"].secret_set
    assert "leave blank" not in w["token"].help
