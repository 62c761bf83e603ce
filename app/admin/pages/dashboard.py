"""Dashboard: jobs by status in the last 24 h, 7-day success rate chart, integrations failing now."""

from __future__ import annotations

from flask import render_template

from app.admin import access, bp, chart, stats
from app.models import Form


@bp.get("/")
def dashboard():
    form_ids = access.visible_form_ids()
    days = stats.daily_success(form_ids)
    failing = stats.failing_integrations(form_ids)
    forms = {
        str(f.id): f for f in Form.objects(id__in=list({f.config.form_id for f in failing})).only("name")
    }
    return render_template(
        "admin/dashboard.html",
        by_status=stats.jobs_by_status(form_ids),
        bars=chart.bars(days),
        gridlines=chart.gridlines(),
        chart_size=(chart.WIDTH, chart.HEIGHT),
        days=days,
        failing=failing,
        forms=forms,
        has_forms=bool(form_ids),
    )
