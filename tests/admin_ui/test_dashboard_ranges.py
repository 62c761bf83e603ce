"""The dashboard's range picker, buckets in the viewer's time zone, latency percentiles, and failing
integrations that were switched off."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from bson import ObjectId

from app.admin.dashboard_stats import buckets_for
from app.admin.pages.dashboard import seconds
from app.engine import rollup_rebuild
from app.engine.rollups import bucket_value, latency_bucket
from app.models import PluginExecutionLog, PluginJob


def test_buckets_are_the_viewers_hours_and_days():
    now = dt.datetime(
        2026, 3, 2, 0, 30, tzinfo=dt.UTC
    )  # 09:30 on the 2nd in Tokyo, still the 1st in New York
    tokyo = buckets_for("7d", ZoneInfo("Asia/Tokyo"), now)
    new_york = buckets_for("7d", ZoneInfo("America/New_York"), now)
    assert len(tokyo) == 7 and tokyo[-1].start.date() == dt.date(2026, 3, 2)
    assert new_york[-1].start.date() == dt.date(2026, 3, 1)
    hours = buckets_for("24h", ZoneInfo("Asia/Tokyo"), now)
    assert len(hours) == 24 and hours[-1].label == "09:00"
    assert len(buckets_for("30d", ZoneInfo("UTC"), now)) == 30


def _job(form: dict, config_id: str, status: str, created: dt.datetime, took: float) -> dict:
    oid = ObjectId.from_datetime(created)
    oid = ObjectId(oid.binary[:4] + ObjectId().binary[4:])
    return {
        "_id": oid,
        "config_id": config_id,
        "form_id": form["id"],
        "workspace_id": form["workspace_id"],
        "plugin_id": "webhook",
        "event": "form.submitted",
        "status": status,
        "attempts": 1,
        "max_attempts": 5,
        "payload": {},
        "dispatch_key": f"k{oid}",
        "idempotency_key": f"msg_{oid}",
        "created_at": created.replace(tzinfo=None),
        "completed_at": (created + dt.timedelta(seconds=took)).replace(tzinfo=None),
    }


def test_the_range_picker_switches_between_24_hours_7_and_30_days(app, api, owner):
    form = api.create_form("Orders", [{"name": "email", "type": "email"}])
    hook = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/hook"}, name="Orders hook")
    now = dt.datetime.now(dt.UTC)
    jobs = [_job(form, hook["id"], "completed", now - dt.timedelta(days=3), took) for took in (1, 2, 3, 4)]
    jobs.append(_job(form, hook["id"], "failed", now - dt.timedelta(days=3), 0))
    jobs.append(_job(form, hook["id"], "completed", now - dt.timedelta(days=20), 9))
    with app.app_context():
        PluginJob._get_collection().insert_many(jobs)
        rollup_rebuild.rebuild()  # stored behind the engine's back, like jobs from before the rollups
    week = owner.get("/admin/?range=7d&tz=UTC").text
    assert len(re.findall(r'<g class="bar bar-', week.split('id="success-chart"')[1].split("</svg>")[0])) == 7
    row = week.split("Orders hook</a>")[1].split("</tr>")[0]
    p50, p95 = (seconds(bucket_value(latency_bucket(v))) for v in (2, 4))  # p50 2 s, p95 4 s, as bucketed
    assert ">5<" in row and "80 %" in row and p50 in row and p95 in row
    month = owner.get("/admin/?range=30d&tz=UTC").text
    assert ">6<" in month.split("Orders hook</a>")[1].split("</tr>")[0]
    day = owner.get("/admin/?range=24h&tz=UTC").text
    assert len(re.findall(r'<g class="bar bar-', day.split('id="volume-chart"')[1].split("</svg>")[0])) == 24


def test_an_integration_switched_off_while_failing_still_counts_as_failing(app, api, owner):
    form = api.create_form("Orders", [{"name": "email", "type": "email"}])
    hook = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/hook"}, name="Broken hook")
    with app.app_context():
        PluginExecutionLog(
            job_id=str(ObjectId()),
            config_id=hook["id"],
            form_id=form["id"],
            workspace_id=form["workspace_id"],
            attempt=1,
            status="failed",
            error_message="HTTP 500 Internal Server Error",
        ).save()
    assert api.patch(f"/api/plugin-configs/{hook['id']}", {"enabled": False}).status_code == 200
    failing = owner.get("/admin/").text.split('id="failing-h"')[1]
    assert "Broken hook" in failing and "HTTP 500 Internal Server Error" in failing
