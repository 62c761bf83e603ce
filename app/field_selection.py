"""Which fields an integration sends, in which order and under which labels (shared by every plugin).

Config shape (a list; absent or empty means "every field")::

    "fields": [{"field": "email", "label": "Email address"}, {"field": "message"}]

By default every field of the form is sent in form order under the form's labels, followed by any
submitted value the form does not declare. A chosen list sends only those fields, in that order; a
missing ``label`` falls back to the form's label. A plugin may name the label key differently (Google
Sheets uses ``columns`` with ``{"field", "header"}``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate


@dataclass(frozen=True)
class SelectedField:
    """One field as an integration sends it."""

    name: str
    label: str
    value: Any

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def selection_field(label_key: str = "label", **kwargs: Any) -> fields.List:
    """The config field holding a field selection: ``[{"field": ..., label_key: ...}]``."""
    item = Schema.from_dict(
        {
            "field": fields.String(required=True, validate=validate.Length(min=1, max=200)),
            label_key: fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200)),
        },
        name=f"FieldChoice_{label_key}",
    )
    metadata = {
        "description": "Fields to send, in order, with optional labels; empty sends every field.",
        "x-widget": "field-selection",
        **kwargs.pop("metadata", {}),
    }
    return fields.List(
        fields.Nested(item), load_default=list, validate=_no_duplicates, metadata=metadata, **kwargs
    )


def _no_duplicates(value: list[dict[str, Any]]) -> None:
    names = [choice["field"] for choice in value]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValidationError(f"Listed more than once: {', '.join(twice)}.")


def select_fields(
    payload: Mapping[str, Any],
    selection: list[Mapping[str, Any]] | None = None,
    label_key: str = "label",
) -> list[SelectedField]:
    """The fields to send for an event snapshot (see app.engine.dispatch.snapshot)."""
    data = payload.get("data") or {}
    labels = {f["name"]: f.get("label") or f["name"] for f in (payload.get("form") or {}).get("fields", [])}
    if selection:
        return [
            SelectedField(
                c["field"], c.get(label_key) or labels.get(c["field"], c["field"]), data.get(c["field"])
            )
            for c in selection
        ]
    names = list(labels) + [name for name in data if name not in labels]
    return [SelectedField(name, labels.get(name, name), data.get(name)) for name in names]


def display_value(value: Any) -> Any:
    """A value as a person reads it: empty for None, lists joined by commas, yes/no for booleans.

    Other values are returned unchanged (so markup-safe strings stay safe).
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(display_value(v)) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value
