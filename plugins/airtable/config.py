"""The Airtable integration's settings: a token, a base and table, and which fields go to which column."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from app.contract import Secret, display_value, select_fields, selection_field

SUBMISSION_ID = "Submission ID"


class AirtableConfig(Schema):
    token = Secret(
        # the base is what a token is granted for; the table is what Test connection reads and rows go to
        bound_to=("base_id", "table"),
        required=True,
        validate=validate.Regexp(r"^pat[\w.]{10,}$", error="A personal access token starts with pat."),
        metadata={"description": "Personal access token with data.records:read/write and schema.bases:read"},
    )
    base_id = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^app[A-Za-z0-9]{14}$", error="A base ID starts with app (see the base's API page)."
        ),
        metadata={"description": "The base's ID (app…, from its URL)"},
    )
    table = fields.String(
        required=True,
        validate=validate.Length(min=1, max=255),
        metadata={"description": "Table name or ID (tbl…)"},
    )
    columns = selection_field(
        "column",
        metadata={"description": "Fields as {field, column}: the Airtable field each form field goes to"},
    )
    typecast = fields.Boolean(
        load_default=True,
        metadata={
            "description": "Let Airtable convert text to the column's type (dates, numbers, new select options)"
        },
    )


def record_fields(config: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """Column → value of the record an event writes; the Submission ID column identifies it."""
    submission = payload.get("submission") or {}
    row: dict[str, Any] = {SUBMISSION_ID: submission.get("id") or ""}
    for f in select_fields(payload, config.get("columns"), label_key="column"):
        column = f.label if f.label not in row else f"{f.label} ({f.name})"
        row[column] = _value(f.value)
    return row


def _value(value: Any) -> Any:
    """Text, numbers and booleans as they are; lists of text for multiple selects; the rest as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    return str(display_value(value))
