"""The intake's validation messages (marshmallow's, shared with the JSON API) in words for the person filling
in the hosted form, naming the field by its label: "Please fill in Full name." for "Missing data for
required field."."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

REQUIRED = {"Missing data for required field.", "This field is required.", "Field may not be null."}
BY_KIND = {
    "email": "Please enter an email address for {label}, like name@example.com.",
    "url": "Please enter a web address for {label}, like https://example.com.",
    "number": "Please enter a number for {label}.",
    "checkbox": "Please tick or clear {label}.",
    "select": "Please choose one of the options for {label}.",
    "date": "Please enter a date for {label}.",
}


def _plain(message: str, label: str, kind: str | None) -> str:
    if message in REQUIRED:
        return f"Please fill in {label}." if kind != "checkbox" else f"Please tick {label}."
    if message.startswith("Longer than maximum length"):
        return f"{label} is too long."
    if message == "Unknown field.":
        return "This form has no such field."
    if message.startswith(("Not a valid", "Must be one of", "Enter a number")) and kind in BY_KIND:
        return BY_KIND[kind].format(label=label)
    return message


def plain(errors: Mapping[str, Iterable[str]], fields: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """``errors`` (field name → messages) with each message said plainly, for the hosted page."""
    known = {f["name"]: f for f in fields}
    result = {}
    for name, messages in errors.items():
        field = known.get(name, {})
        label = field.get("label") or name
        result[name] = [_plain(m, label, field.get("type")) for m in messages]
    return result
