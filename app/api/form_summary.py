"""A form's results summary: ``GET /api/forms/<form_id>/summary?from=&to=`` (UTC days, both included)."""

from __future__ import annotations

from flask import jsonify, request

from app.admin import results_summary
from app.api import bp
from app.api.scope import scoped_or_404
from app.models import Form


@bp.get("/forms/<form_id>/summary")
def form_summary(form_id: str):
    """Submissions per day and per field (options, numbers, text), from the figures the indexer keeps."""
    form = scoped_or_404(Form, form_id, "form")
    start, end = results_summary.date_range(request.args)
    return jsonify(results_summary.summarise(form, start, end).to_dict(form))
