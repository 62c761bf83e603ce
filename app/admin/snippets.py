"""What the form page offers to copy: the submission URL, a curl command and an HTML snippet."""

from __future__ import annotations

import json
import shlex

from flask import render_template, url_for

from app.models import Form
from app.samples import example_data


def submission_url(form: Form) -> str:
    return url_for("api.create_submission", form_id=str(form.id), _external=True)


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
