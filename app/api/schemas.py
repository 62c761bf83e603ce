"""Input schemas of the API (marshmallow)."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates

from app.contract import EVENTS
from app.engine.conditions import OPERATORS
from app.models.form import FIELD_TYPES

CONDITIONS_DOC = {
    "description": (
        '{"match": "all"|"any", "rules": [{"field", "op", "value"} or a group {"match", "rules"}], '
        '"on_edit": "always"|"newly_matching"}; ops: ' + ", ".join(OPERATORS)
    ),
    "type": "object",
}
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
ORIGIN = re.compile(r"^(\*|https?://[^/\s?#]+)$")


class FormFieldIn(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(
        required=True, validate=validate.Regexp(FIELD_NAME, error="Use letters, digits, _ or -.")
    )
    label = fields.String(load_default=None, validate=validate.Length(max=200))
    type = fields.String(load_default="text", validate=validate.OneOf(FIELD_TYPES))
    required = fields.Boolean(load_default=False)
    options = fields.List(fields.String(), load_default=list)


class FormIn(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    workspace_id = fields.String(load_default=None)
    accepting_submissions = fields.Boolean(load_default=True)
    allowed_origins = fields.List(
        fields.String(
            validate=validate.Regexp(ORIGIN, error="Use an origin like https://example.com, or *.")
        ),
        load_default=list,
    )
    fields = fields.List(fields.Nested(FormFieldIn), load_default=list)

    @validates("fields")
    def _unique(self, value: list[dict], **_: Any) -> None:
        names = [f.get("name") for f in value if isinstance(f, dict)]
        if len(names) != len(set(names)):
            raise ValidationError("Field names must be unique.")


def storable(value: Any, depth: int = 0) -> bool:
    """True when ``value`` can be stored as a document: keys without NUL, "$" first or ".", bounded depth."""
    if depth > 20:
        raise ValidationError("Nested too deeply.")
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key or "." in key or key.startswith("$"):
                raise ValidationError(f"Invalid key {key!r}: no NUL, no '.', no leading '$'.")
            storable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            storable(item, depth + 1)
    return True


class SubmissionIn(Schema):
    class Meta:
        unknown = RAISE

    data = fields.Dict(keys=fields.String(), required=True, validate=storable)


class PluginConfigIn(Schema):
    class Meta:
        unknown = RAISE

    plugin_id = fields.String(required=True)
    name = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    enabled = fields.Boolean(load_default=True)
    config = fields.Raw(load_default=dict)
    trigger_events = fields.List(
        fields.String(validate=validate.OneOf(EVENTS)), load_default=None, validate=validate.Length(min=1)
    )
    max_attempts = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=50))
    conditions = fields.Raw(load_default=None, allow_none=True, metadata=CONDITIONS_DOC)


class PluginConfigPatch(PluginConfigIn):
    plugin_id = fields.String(load_default=None)  # cannot change; accepted if equal


class ConditionCheckIn(Schema):
    class Meta:
        unknown = RAISE

    conditions = fields.Raw(required=True, allow_none=True, metadata=CONDITIONS_DOC)
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class PluginTestIn(Schema):
    class Meta:
        unknown = RAISE

    config = fields.Raw(required=True)


def submission_schema(form_fields: list[dict]) -> Schema | None:
    """A schema checking submitted data against the form's fields; None when the form declares none.

    Built once per distinct list of fields (a form's revision) and reused: building one costs more than
    a whole submission's validation. Schemas hold no per-load state, so threads can share them.
    """
    if not form_fields:
        return None
    return _schema_for(json.dumps(form_fields, sort_keys=True, default=str))


@functools.lru_cache(maxsize=512)
def _schema_for(fields_json: str) -> Schema:
    form_fields = json.loads(fields_json)
    kinds = {
        "number": lambda: fields.Float(),
        "checkbox": lambda: fields.Boolean(),
        "email": lambda: fields.Email(),
        "url": lambda: fields.Url(require_tld=False),
    }
    spec: dict[str, fields.Field] = {}
    for f in form_fields:
        field = kinds.get(f["type"], lambda: fields.String(validate=validate.Length(max=100_000)))()
        if f["type"] == "select" and f.get("options"):
            field = fields.String(validate=validate.OneOf(f["options"]))
        field.required = bool(f.get("required"))
        field.allow_none = not f.get("required")
        if f.get("required") and isinstance(field, fields.String):
            field.validators.append(validate.Length(min=1, error="This field is required."))
        spec[f["name"]] = field
    schema_cls = Schema.from_dict(spec, name="SubmissionData")
    return schema_cls(unknown=RAISE)
