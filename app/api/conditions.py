"""Conditional triggers in the API: validation against the form's fields, and "would this match?"."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from app.api import bp
from app.api.schemas import ConditionCheckIn
from app.api.scope import WRITE, scoped_or_404
from app.api.util import json_body, load
from app.engine.conditions import EVENT_BUDGET, Budget, ConditionError, Conditions, OverBudget, parse
from app.errors import invalid
from app.models import Form, Submission, isoformat
from app.models.search_terms import newest_live

CHECK_BUDGET = 1.0  # seconds of CPU time for checking all the submissions of one request


def checked_conditions(form: Form, raw: Any) -> dict[str, Any] | None:
    """The canonical form of ``raw`` for storage, or None for "always"; 422 naming the bad rule or field."""
    try:
        parsed = parse(raw, [f.name for f in form.fields] or None)
    except ConditionError as err:
        raise invalid({"conditions": err.messages}) from None
    return parsed.to_dict() if parsed else None


@bp.post("/forms/<form_id>/conditions/check")
def check_conditions(form_id: str):
    """Which of the form's most recent submissions a condition set would let through.

    Each submission gets one event's CPU budget (over it, it is shown as dispatch handles it: not matching,
    ``over_budget``), and all of them together ``CHECK_BUDGET``: past it, the check stops and says so.
    """
    form = scoped_or_404(Form, form_id, "form", WRITE)
    body = load(ConditionCheckIn(), json_body())
    try:
        parsed = parse(body["conditions"], [f.name for f in form.fields] or None)
    except ConditionError as err:
        raise invalid({"conditions": err.messages}) from None
    recent = newest_live(Submission._get_collection(), str(form.id), 0, body["limit"])
    total = Budget(CHECK_BUDGET)
    items: list[dict[str, Any]] = []
    complete = True
    for sub in recent:
        if total.spent > total.seconds:
            complete = False
            break
        matches, over = _verdict(parsed, sub.get("data"))
        items.append(
            {
                "submission_id": str(sub["_id"]),
                "created_at": isoformat(sub.get("created_at")),
                "matches": matches,
                "over_budget": over,
            }
        )
    over_budget = sum(i["over_budget"] for i in items)
    return jsonify(
        {
            "items": items,
            "matched": sum(i["matches"] for i in items),
            "checked": len(items),
            "over_budget": over_budget,
            "complete": complete,
            "message": _message(complete, len(items), over_budget),
        }
    )


def _verdict(parsed: Conditions | None, data: dict[str, Any] | None) -> tuple[bool, bool]:
    """(matches, over budget) for one submission, as dispatch would decide it."""
    if parsed is None:
        return True, False
    try:
        return parsed.matches(data, Budget()), False
    except OverBudget:
        return False, True


def _message(complete: bool, checked: int, over_budget: int) -> str | None:
    notes = []
    if not complete:
        notes.append(
            f"Stopped after {checked} submissions: checking took more than {CHECK_BUDGET:g} s of CPU in all."
        )
    if over_budget:
        notes.append(
            f"{over_budget} submission(s) took more than {EVENT_BUDGET * 1000:.0f} ms to check and would be "
            "skipped, as if they did not match."
        )
    return " ".join(notes) or None
