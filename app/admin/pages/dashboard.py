"""Dashboard: first the integrations failing or delayed now (their circuit in words, Retry now); jobs by
status in the last 24 h and the jobs delayed now; over a chosen range (24 h, 7 d, 30 d, bucketed in the
viewer's time zone) submissions, delivery success (delayed jobs count as not delivered) and p50/p95
latency, and a table per integration. All of it from the delivery rollups (engine.rollups) and the jobs
waiting or running now: a load reads a few documents per integration and day, however many jobs there are."""

from __future__ import annotations

from flask import render_template, request

from app.admin import access, bp, chart, dashboard_stats, health, rollup_reads, stats
from app.admin.filters import duration, pct
from app.admin.submission_search import viewer_zone, zone_name
from app.models import Form


def seconds(value: float | None) -> str:
    return "—" if value is None else duration(round(value * 1000))


def _charts(buckets: list[dashboard_stats.Bucket]) -> dict:
    size = (chart.WIDTH, chart.HEIGHT)
    volume_top = chart.nice_top([b.submissions for b in buckets])
    volume = [
        chart.Point(b.label, b.submissions, str(b.submissions), f"{b.submissions} submissions")
        for b in buckets
    ]
    rates = [
        chart.Point(
            b.label,
            b.rate,
            pct(b.rate) if b.rate is not None else "no data",
            f"{b.completed} of {b.counted} delivered" + (f", {b.delayed} delayed" if b.delayed else "")
            if b.counted
            else "nothing finished",
            chart.rate_tone(b.rate),
        )
        for b in buckets
    ]
    latency_top = chart.nice_top([b.p95 for b in buckets], floor=1.0)
    p50 = [chart.Point(b.label, b.p50, seconds(b.p50), "median (p50)", "p50") for b in buckets]
    p95 = [chart.Point(b.label, b.p95, seconds(b.p95), "95th percentile (p95)", "p95") for b in buckets]
    return {
        "volume": dict(
            series=[chart.bars(volume, volume_top)],
            grid=chart.gridlines(volume_top, lambda v: f"{v:g}"),
            size=size,
            columns=["When", "Submissions"],
            rows=[(b.label, b.submissions) for b in buckets],
        ),
        "success": dict(
            series=[chart.bars(rates, 1.0)],
            grid=chart.gridlines(1.0, lambda v: f"{v * 100:.0f} %"),
            size=size,
            columns=["When", "Delivered", "Failed", "Delayed", "Success rate"],
            rows=[(b.label, b.completed, b.failed, b.delayed, pct(b.rate)) for b in buckets],
        ),
        "latency": dict(
            series=[chart.bars(p50, latency_top, 0, 2), chart.bars(p95, latency_top, 1, 2)],
            grid=chart.gridlines(latency_top, lambda v: seconds(v)),
            size=size,
            columns=["When", "p50", "p95"],
            rows=[(b.label, seconds(b.p50), seconds(b.p95)) for b in buckets],
        ),
    }


@bp.get("/")
def dashboard():
    form_ids = access.visible_form_ids()
    range_key = request.args.get("range", "7d")
    if range_key not in dashboard_stats.RANGES:
        range_key = "7d"
    zone = viewer_zone(zone_name(request.args, request.cookies))
    seen = dashboard_stats.overview(form_ids, range_key, zone)
    buckets = seen.buckets
    total = dashboard_stats.Deliveries()
    for b in buckets:
        total.merge(b)
    troubles = health.troubles(form_ids, zone)
    form_names = {str(f.id): f.name for f in Form.objects(id__in=form_ids).only("name")}
    return render_template(
        "admin/dashboard.html",
        by_status=stats.jobs_by_status(form_ids),
        charts=_charts(buckets),
        ranges=dashboard_stats.RANGES,
        range_key=range_key,
        zone=zone.key,
        submissions=sum(b.submissions for b in buckets),
        total=total,
        integrations=seen.integrations,
        live_capped=seen.live_capped,
        live_cap=rollup_reads.LIVE_CAP,
        counted_from=seen.counted_from,
        seconds=seconds,
        troubles=troubles,
        delayed_now=sum(t.delayed for t in troubles),  # an integration with delayed jobs is in trouble
        can_edit=access.can_edit,
        forms=form_names,
        has_forms=bool(form_ids),
    )
