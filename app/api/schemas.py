"""Input schemas of the API (marshmallow)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates, validates_schema

from app.contract import FORM_EVENTS
from app.engine.conditions import OPERATORS
from app.models.form import FIELD_TYPES
from app.plain_text import has_control

CONDITIONS_DOC = {
    "description": (
        '{"match": "all"|"any", "rules": [{"field", "op", "value"} or a group {"match", "rules"}], '
        '"on_edit": "always"|"newly_matching"}; ops: ' + ", ".join(OPERATORS)
    ),
    "type": "object",
}
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
ORIGIN = re.compile(r"^(\*|https?://[^/\s?#]+)$")
# A form is checked against every submission and kept in every process: its size is bounded.
MAX_FIELDS, MAX_OPTIONS, MAX_ORIGINS = 300, 1000, 100


INT64 = 2**63  # the store's integers are 64-bit


def one_line(value: str) -> None:
    """A name is one line of plain text (app/plain_text.py): it goes into e-mails and exports."""
    if has_control(value):
        raise ValidationError("Use one line of text, without control characters such as line breaks.")


NAME = [validate.Length(min=1, max=200), one_line]


class ExactNumber(fields.Field):
    """A number kept as it was written: whole numbers stay integers (``26``, not ``26.0``) and decimals
    are kept only when they are stored exactly (a 64-bit float that reads back as the same digits)."""

    default_error_messages = {
        "invalid": "Enter a number.",
        "too_large": "This number is too large.",
        "too_precise": "This number has more digits than can be kept exactly (at most 15 significant).",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int | float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.make_error("invalid")
        text = str(value) if isinstance(value, int | float) else value.strip()
        try:
            exact = Decimal(text)
        except InvalidOperation:
            raise self.make_error("invalid") from None
        if not exact.is_finite():
            raise self.make_error("invalid")
        if isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"[+-]?\d+", text)):
            if abs(int(exact)) >= INT64:
                raise self.make_error("too_large")
            return int(exact)
        number = float(exact)
        if Decimal(repr(number)) != exact:
            raise self.make_error("too_precise")
        return number


class FormFieldIn(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(
        required=True, validate=validate.Regexp(FIELD_NAME, error="Use letters, digits, _ or -.")
    )
    label = fields.String(load_default=None, validate=validate.Length(max=200))
    type = fields.String(load_default="text", validate=validate.OneOf(FIELD_TYPES))
    required = fields.Boolean(load_default=False)
    options = fields.List(
        fields.String(validate=validate.Length(max=500)),
        load_default=list,
        validate=validate.Length(max=MAX_OPTIONS, error=f"At most {MAX_OPTIONS} options."),
    )

    @validates_schema
    def _choice_has_options(self, data: dict[str, Any], **_: Any) -> None:
        """A required choice without options could never be answered: its form could never be sent."""
        answerable = any(option.strip() for option in data.get("options") or [])
        if data.get("type") == "select" and data.get("required") and not answerable:
            raise ValidationError(
                "A required choice needs at least one option, or the form can never be submitted. "
                "Add options, or make the field optional.",
                "options",
            )


MAX_RETENTION_DAYS = 3650


class FormIn(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=NAME)
    retention_days = fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        validate=validate.Range(
            min=1,
            max=MAX_RETENTION_DAYS,
            error=f"Use a whole number of days from 1 to {MAX_RETENTION_DAYS}, or null to keep them forever.",
        ),
        metadata={"description": "Submissions older than this many days are removed (null: kept forever)"},
    )
    workspace_id = fields.String(load_default=None)
    accepting_submissions = fields.Boolean(load_default=True)
    allowed_origins = fields.List(
        fields.String(
            validate=validate.Regexp(ORIGIN, error="Use an origin like https://example.com, or *.")
        ),
        load_default=list,
        validate=validate.Length(max=MAX_ORIGINS, error=f"At most {MAX_ORIGINS} origins."),
    )
    fields = fields.List(
        fields.Nested(FormFieldIn),
        load_default=list,
        validate=validate.Length(max=MAX_FIELDS, error=f"At most {MAX_FIELDS} fields."),
    )

    @validates("fields")
    def _unique(self, value: list[dict], **_: Any) -> None:
        """A repeated name is reported on the row that repeats it (``fields.3.name``), not on the list."""
        seen: set[str] = set()
        repeated: dict[int, dict[str, list[str]]] = {}
        for index, field in enumerate(value):
            name = field.get("name") if isinstance(field, dict) else None
            if name in seen:
                repeated[index] = {
                    "name": [f"Another field is already named “{name}”; names must be unique."]
                }
            seen.add(name)
        if repeated:
            raise ValidationError(repeated)


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
    name = fields.String(load_default=None, validate=NAME)
    enabled = fields.Boolean(load_default=True)
    config = fields.Raw(load_default=dict)
    trigger_events = fields.List(
        fields.String(validate=validate.OneOf(FORM_EVENTS)), load_default=None, validate=validate.Length(min=1)
    )
    max_attempts = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=50))
    conditions = fields.Raw(load_default=None, allow_none=True, metadata=CONDITIONS_DOC)
    alerts_muted = fields.Boolean(load_default=False, metadata={"description": "No failure alerts for it"})


class PluginConfigPatch(PluginConfigIn):
    plugin_id = fields.String(load_default=None)  # cannot change; accepted if equal


class ConditionCheckIn(Schema):
    class Meta:
        unknown = RAISE

    conditions = fields.Raw(required=True, allow_none=True, metadata=CONDITIONS_DOC)
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class BackfillIn(Schema):
    class Meta:
        unknown = RAISE

    since = fields.AwareDateTime(load_default=None, default_timezone=dt.UTC)
    until = fields.AwareDateTime(load_default=None, default_timezone=dt.UTC)
    resend = fields.Boolean(
        load_default=False, metadata={"description": "Also for submissions that already have a job"}
    )
    preview = fields.Boolean(load_default=False, metadata={"description": "Only count; start nothing"})


MAX_REPLAY_SUBMISSIONS = 100  # a replay of chosen submissions: a page of the browser, at most

def an_address(value: str) -> None:
    """An e-mail address: text, "@", then a domain (compared case-insensitively, as a whole address)."""
    local, at, domain = value.strip().rpartition("@")
    if not (local and at and "." in domain.strip(".")) or any(c.isspace() for c in value.strip()):
        raise ValidationError("Enter an e-mail address, like name@example.com.")


class ErasureIn(Schema):
    class Meta:
        unknown = RAISE

    identifier = fields.String(
        required=True,
        validate=[validate.Length(min=3, max=320), one_line, an_address],
        metadata={"description": "The e-mail address whose submissions are erased (any letter case)"},
    )


class ReplayIn(Schema):
    class Meta:
        unknown = RAISE

    statuses = fields.List(
        fields.String(validate=validate.OneOf(["failed", "cancelled", "completed"])),
        required=True,
        validate=validate.Length(min=1),
    )
    workspace_id = fields.String(load_default=None)
    form_id = fields.String(load_default=None)
    config_id = fields.String(load_default=None)
    submission_ids = fields.List(
        fields.String(validate=validate.Regexp(r"^[0-9a-f]{24}$", error="Not a submission id.")),
        load_default=None,
        validate=validate.Length(min=1, max=MAX_REPLAY_SUBMISSIONS),
        metadata={"description": f"Only these submissions' jobs (at most {MAX_REPLAY_SUBMISSIONS})"},
    )
    since = fields.AwareDateTime(load_default=None, default_timezone=dt.UTC)
    until = fields.AwareDateTime(load_default=None, default_timezone=dt.UTC)
    preview = fields.Boolean(load_default=False, metadata={"description": "Only count; start nothing"})


class AlertSettingsIn(Schema):
    class Meta:
        unknown = RAISE

    email = fields.Boolean(load_default=True, metadata={"description": "E-mail the owners (needs SMTP_URL)"})
    channel_config_id = fields.String(
        load_default=None, allow_none=True, metadata={"description": "An integration that also gets alerts"}
    )
    digest = fields.Boolean(load_default=False, metadata={"description": "A daily e-mail of failures"})


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
    key = json.dumps(form_fields, sort_keys=True, default=str)
    return _kept_schema(key) if len(key) <= SCHEMA_KEPT_UP_TO else _build_schema(key)


def _build_schema(fields_json: str) -> Schema:
    form_fields = json.loads(fields_json)
    kinds = {
        "number": ExactNumber,
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


# A schema takes about ten times its fields' JSON in memory: only those of ordinary forms are kept, so
# that no workspace can fill every process's memory by changing a large form again and again.
SCHEMA_KEPT_UP_TO = 32 * 1024
_kept_schema = functools.lru_cache(maxsize=256)(_build_schema)
