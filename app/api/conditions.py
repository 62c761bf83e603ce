"""Conditional triggers in the API: validation against the form's fields, and "would this match?"."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from app.api import bp
from app.api.schemas import ConditionCheckIn
from app.api.scope import WRITE, scoped_or_404
from app.api.util import json_body, load
from app.engine.conditions import ConditionError, parse
from app.errors import invalid
from app.models import Form, Submission, isoformat


def checked_conditions(form: Form, raw: Any) -> dict[str, Any] | None:
    """The canonical form of ``raw`` for storage, or None for "always"; 422 naming the bad rule or field."""
    try:
        parsed = parse(raw, [f.name for f in form.fields] or None)
    except ConditionError as err:
        raise invalid({"conditions": err.messages}) from None
    return parsed.to_dict() if parsed else None


@bp.post("/forms/<form_id>/conditions/check")
def check_conditions(form_id: str):
    """Which of the form's most recent submissions a condition set would let through."""
    form = scoped_or_404(Form, form_id, "form", WRITE)
    body = load(ConditionCheckIn(), json_body())
    try:
        parsed = parse(body["conditions"], [f.name for f in form.fields] or None)
    except ConditionError as err:
        raise invalid({"conditions": err.messages}) from None
    recent = (
        Submission.objects(form_id=str(form.id), deleted=False).order_by("-created_at").limit(body["limit"])
    )
    items = [
        {
            "submission_id": str(sub.id),
            "created_at": isoformat(sub.created_at),
            "matches": parsed is None or parsed.matches(sub.data),
        }
        for sub in recent
    ]
    return jsonify({"items": items, "matched": sum(i["matches"] for i in items), "checked": len(items)})
