"""A form's results summary page: submissions per day and per field, as charts with their numbers (from
the figures the indexer keeps; app.admin.results_summary)."""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from app.admin import access, bp, chart, results_summary
from app.admin.results_summary import FieldSummary, Summary
from app.errors import APIError


def number(value: float) -> str:
    """A number as a person reads it: no ``.0``, at most four significant digits past the point."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def _share(n: int, total: int) -> str:
    return f"{n / total * 100:.0f} %" if total else "—"


def _chart(points: list[chart.Point], columns: list[str], rows: list[list[str]]) -> dict[str, Any]:
    top = chart.nice_top([p.value for p in points])
    return {
        "series": [chart.bars(points, top)],
        "grid": chart.gridlines(top, lambda v: f"{v:g}"),
        "size": (chart.WIDTH, chart.HEIGHT),
        "columns": columns,
        "rows": rows,
    }


def _days(summary: Summary) -> dict[str, Any]:
    points = [
        chart.Point(d.strftime("%b %d"), n, str(n), f"{n} submissions on {d.isoformat()}")
        for d, n in summary.days
    ]
    return _chart(points, ["Day (UTC)", "Submissions"], [[d.isoformat(), str(n)] for d, n in summary.days])


def _field_chart(f: FieldSummary) -> dict[str, Any] | None:
    if f.kind == "options" and f.options:
        points = [chart.Point(o, n, f"{n} · {_share(n, f.total)}", f"{n} of {f.total} submissions") for o, n in f.options]
        rows = [[o, str(n), _share(n, f.total)] for o, n in f.options]
        return _chart(points, ["Option", "Submissions", "Share"], rows)
    if f.kind == "number" and f.numbers:
        labels = [number(a) if a == b else f"{number(a)}–{number(b)}" for a, b, _ in f.numbers.histogram]
        points = [
            chart.Point(label, n, str(n), f"{n} values")
            for label, (_, _, n) in zip(labels, f.numbers.histogram, strict=True)
        ]
        return _chart(
            points,
            ["Value", "Submissions"],
            [[label, str(n)] for label, (_, _, n) in zip(labels, f.numbers.histogram, strict=True)],
        )
    return None


@bp.get("/forms/<form_id>/summary")
def form_summary(form_id: str):
    form = access.form_or_404(form_id)
    error = ""
    try:
        start, end = results_summary.date_range(request.args)
    except APIError as err:
        error = "; ".join(" ".join(v) for v in (err.details or {}).values()) or err.message
        start, end = results_summary.date_range({})
    summary = results_summary.summarise(form, start, end)
    return render_template(
        "admin/form_summary.html",
        form=form,
        summary=summary,
        error=error,
        days_chart=_days(summary),
        field_charts={f.name: _field_chart(f) for f in summary.fields},
        number=number,
        share=_share,
    )
