"""Plausible submission data for a form's fields: the form page's curl example and the settings preview."""

from __future__ import annotations

from typing import Any

from app.models import Form

EXAMPLES: dict[str, Any] = {
    "email": "ada@example.com",
    "number": 42,
    "checkbox": True,
    "date": "2024-05-01",
    "url": "https://example.com",
    "tel": "+1 555 0100",
    "textarea": "Hello!",
}


def example_data(form: Form) -> dict[str, Any]:
    """A plausible submission for the form's fields."""
    data: dict[str, Any] = {}
    for f in form.fields:
        if f.type == "select" and f.options:
            data[f.name] = f.options[0]
        else:
            data[f.name] = EXAMPLES.get(f.type, "Ada Lovelace" if "name" in f.name else "Hello")
    return data or {"email": EXAMPLES["email"]}
