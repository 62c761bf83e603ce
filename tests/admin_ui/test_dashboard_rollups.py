"""The dashboard's figures come from the rollups: the same as a straightforward scan of the jobs and
submissions gives (percentiles within their bucket), for several zones and ranges, and a load costs the same
number of store commands with 40 jobs or 4,000."""

from __future__ import annotations

import datetime as dt
import math
import random
import re
import time
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from bson import ObjectId

from app.admin import dashboard_stats, rollup_reads
from app.engine import indexer, rollup_rebuild, rollups
from app.models import PluginJob, Submission
from tests.support.commands import commands_sent
from tests.support.seed import insert_many

NOW = dt.datetime.now(dt.UTC)


def _oid(when: dt.datetime) -> ObjectId:
    return ObjectId(ObjectId.from_datetime(when).binary[:4] + ObjectId().binary[4:])


def _setup(api) -> dict:
    forms = [api.create_form(name, [{"name": "n", "type": "number"}]) for name in ("Orders", "Leads")]
    configs = [
        api.add_plugin(forms[i]["id"], "webhook", {"url": "http://127.0.0.1:9/x"}, name=name)
        for i, name in ((0, "CRM"), (0, "Mailer"), (1, "Sheet"))
    ]
    return {"forms": [f["id"] for f in forms], "configs": configs, "jobs": [], "subs": []}


def _seed(app, seeded: dict, jobs_per_config: int, rng: random.Random) -> dict:
    """Add jobs (of every status, created over 40 days) and as many submissions, then rebuild the rollups."""
    job_docs, sub_docs = [], []
    for config in seeded["configs"]:
        for _ in range(jobs_per_config):
            created = NOW - dt.timedelta(seconds=rng.uniform(0, 40 * 86400))
            status = rng.choice(["completed"] * 6 + ["failed", "cancelled", "pending", "pending", "running"])
            oid = _oid(created)
            doc = {
                "_id": oid,
                "config_id": config["id"],
                "form_id": config["form_id"],
                "workspace_id": config["workspace_id"],
                "plugin_id": "webhook",
                "event": "form.submitted",
                "status": status,
                "attempts": rng.randint(1, 3),
                "max_attempts": 5,
                "payload": {},
                "dispatch_key": f"k{oid}",
                "idempotency_key": f"msg_{oid}",
                "created_at": created.replace(tzinfo=None),
                "scheduled_for": time.time() + rng.choice([-5, 0, 300]),
            }
            if status in ("completed", "failed", "cancelled"):
                took = dt.timedelta(seconds=rng.lognormvariate(1, 1.5))
                doc["completed_at"] = (created + took).replace(tzinfo=None)
            job_docs.append(doc)
            sub = {"_id": oid, "form_id": config["form_id"], "workspace_id": config["workspace_id"]}
            sub_docs.append(
                {**sub, "data": {}, "revision": 1, "deleted": False, "created_at": doc["created_at"]}
            )
    with app.app_context():
        insert_many(PluginJob._get_collection(), job_docs)
        insert_many(Submission._get_collection(), sub_docs)
        rollup_rebuild.rebuild()
    seeded["jobs"] += job_docs
    seeded["subs"] += sub_docs
    return seeded


def _nearest_rank(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _scan(seeded: dict, range_key: str, zone: ZoneInfo) -> tuple[list[dict], dict[str, dict]]:
    """The figures as the dashboard gave them before the rollups: every job and submission of the range."""
    buckets = dashboard_stats.buckets_for(range_key, zone)
    starts = [b.start for b in buckets]

    def locate(moment: dt.datetime) -> int | None:
        found = None
        for i, start in enumerate(starts):
            if start <= moment:
                found = i
        return found

    now = time.time()
    want = [dict(submissions=0, volume=0, completed=0, failed=0, delayed=0, latencies=[]) for _ in starts]
    rows: dict[str, dict] = {}
    for sub in seeded["subs"]:
        if (i := locate(sub["_id"].generation_time)) is not None:
            want[i]["submissions"] += 1
    for job in seeded["jobs"]:
        i = locate(job["_id"].generation_time)
        if i is None:
            continue
        row = rows.setdefault(
            job["config_id"], dict(volume=0, completed=0, failed=0, delayed=0, latencies=[])
        )
        for target in (want[i], row):
            target["volume"] += 1
            if job["status"] == "completed":
                target["completed"] += 1
                target["latencies"].append((job["completed_at"] - job["created_at"]).total_seconds())
            elif job["status"] == "failed":
                target["failed"] += 1
            elif job["status"] == "pending" and job["scheduled_for"] > now + 2:
                target["delayed"] += 1
    return want, rows


def _close(approx: float | None, exact: float | None) -> bool:
    if exact is None:
        return approx is None
    low, high = rollups.bucket_bounds(rollups.latency_bucket(exact))
    return approx is not None and low <= approx < high


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo", "America/New_York"])
def test_the_dashboard_gives_what_a_scan_of_the_jobs_gives(app, api, zone):
    seeded = _seed(app, _setup(api), 60, random.Random(zone))
    for range_key in ("24h", "7d", "30d"):
        with app.test_request_context():
            seen = dashboard_stats.overview(seeded["forms"], range_key, ZoneInfo(zone))
        want, rows = _scan(seeded, range_key, ZoneInfo(zone))
        for bucket, expected in zip(seen.buckets, want, strict=True):
            got = dict(
                submissions=bucket.submissions,
                volume=bucket.volume,
                completed=bucket.completed,
                failed=bucket.failed,
                delayed=bucket.delayed,
            )
            assert got == {k: v for k, v in expected.items() if k != "latencies"}, (range_key, bucket.label)
            assert _close(bucket.p50, _nearest_rank(expected["latencies"], 0.5))
            assert _close(bucket.p95, _nearest_rank(expected["latencies"], 0.95))
        for row in seen.integrations:
            expected = rows.get(
                str(row.config.id), dict(volume=0, completed=0, failed=0, delayed=0, latencies=[])
            )
            assert (row.volume, row.completed, row.failed, row.delayed) == (
                expected["volume"],
                expected["completed"],
                expected["failed"],
                expected["delayed"],
            ), (range_key, row.config.name)
            assert _close(row.p95, _nearest_rank(expected["latencies"], 0.95))




def _commands(client, path: str) -> Counter[tuple[str, str]]:
    with commands_sent() as sent:
        assert client.get(path).status_code == 200
    return Counter((name, str(cmd.get(name))) for name, cmd in sent)


def test_a_dashboard_load_costs_the_same_store_commands_with_40_jobs_or_4000(app, api, owner):
    seeded = _setup(api)
    paths = ("/admin/?range=30d", "/admin/?range=24h", f"/admin/forms/{seeded['forms'][0]}")
    counts = []
    for per_config in (14, 1386):
        _seed(app, seeded, per_config, random.Random(per_config))
        counts.append({path: _commands(owner, path) for path in paths})
    small, large = counts
    for path in paths:
        assert small[path] == large[path], (path, small[path])
        assert not any(name == "getMore" for name, _ in large[path]), path


def test_jobs_from_before_the_rollups_are_said_missing_until_they_are_rebuilt(app, api, owner):
    seeded = _setup(api)
    _seed(app, seeded, 5, random.Random(5))
    with app.app_context():
        rollups.meta_collection().delete_many({})  # as on an instance upgraded with jobs in its store
        rollups.collection().delete_many({})
        rollups.start_counting()
    page = owner.get("/admin/?range=7d").text
    assert "data-counted-from" in page and "flask rebuild-rollups" in page
    with app.app_context():
        rollup_rebuild.rebuild()
    assert "data-counted-from" not in owner.get("/admin/?range=7d").text


@pytest.mark.parametrize("waiting", [3, 7])
def test_more_waiting_jobs_than_are_read_show_as_at_least(app, api, owner, monkeypatch, waiting):
    monkeypatch.setattr("app.admin.rollup_reads.LIVE_CAP", 3)
    form = api.create_form("Orders", [{"name": "n", "type": "number"}])
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/x"})
    for i in range(waiting):
        api.submit(form["id"], {"n": i})
    page = owner.get("/admin/?range=24h").text
    pending = re.search(r'<span class="stat-value">([^<]+)</span>\s*<span class="stat-label">pending', page)[
        1
    ]
    assert pending == ("3+" if waiting > 3 else "3")


@pytest.mark.parametrize("count", [1, 4])
def test_accepted_submissions_are_counted_in_their_hour(app, api, owner, count):
    from tests.support.wait import wait_until

    form = api.create_form("Orders", [{"name": "n", "type": "number"}])
    other = api.create_form("Leads", [{"name": "n", "type": "number"}])
    for i in range(count):
        api.submit(form["id"], {"n": i})
    api.submit(other["id"], {"n": 0})
    with app.app_context():
        indexer.drain()  # (the indexer counts them after the 202)

    def counted() -> int:
        html = owner.get("/admin/?range=24h&tz=UTC").text
        return int(
            re.search(r'<span class="stat-value">(\d+)</span><span class="stat-label">submissions', html)[1]
        )

    wait_until(lambda: counted() == count + 1, what=f"{count + 1} submissions on the dashboard")
    with app.app_context():
        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        assert sum(n for _, n in rollup_reads.submissions([form["id"]], since)) == count


@pytest.mark.parametrize("batch", [2, 5000])
def test_rebuild_rollups_counts_in_batches_what_a_scan_counts(app, api, batch):
    seeded = _seed(app, _setup(api), 4, random.Random(batch))
    with app.app_context():
        rollups.collection().delete_many({})
    result = app.test_cli_runner().invoke(args=["rebuild-rollups", "--batch", str(batch)])
    assert result.exit_code == 0 and "done: 12 jobs, 12 submissions, 3 integrations" in result.output
    with app.test_request_context():
        seen = dashboard_stats.overview(seeded["forms"], "30d", ZoneInfo("UTC"))
    want, _ = _scan(seeded, "30d", ZoneInfo("UTC"))
    assert [b.completed for b in seen.buckets] == [w["completed"] for w in want]
    assert [b.submissions for b in seen.buckets] == [w["submissions"] for w in want]
