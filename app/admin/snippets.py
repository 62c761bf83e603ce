"""What the form page offers to copy: the submission URL, a curl command and an HTML snippet."""

from __future__ import annotations

import json
import shlex
from typing import Any

from flask import render_template, url_for

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


def submission_url(form: Form) -> str:
    return url_for("api.create_submission", form_id=str(form.id), _external=True)


def example_data(form: Form) -> dict[str, Any]:
    """A plausible submission for the form's fields (the curl example's body)."""
    data: dict[str, Any] = {}
    for f in form.fields:
        if f.type == "select" and f.options:
            data[f.name] = f.options[0]
        else:
            data[f.name] = EXAMPLES.get(f.type, "Ada Lovelace" if "name" in f.name else "Hello")
    return data or {"email": EXAMPLES["email"]}


def curl(form: Form) -> str:
    body = json.dumps({"data": example_data(form)})
    return (
        f"curl -X POST {shlex.quote(submission_url(form))} \\\n"
        f"  -H 'Content-Type: application/json' \\\n"
        f"  -d {shlex.quote(body)}"
    )


def html(form: Form) -> str:
    """The hosted page's form markup, to paste into any site (it posts to the public endpoint)."""
    markup = render_template("hosted/snippet.html", form=form, action=submission_url(form))
    return "\n".join(line.rstrip() for line in markup.splitlines() if line.strip())
