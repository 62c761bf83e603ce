"""Delivery rollups kept as jobs settle: counted once per job whatever the path (delivered, retried, failed
for good, cancelled, reaped), not counted for a change that lost its claim, and read back as percentiles
within one bucket."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from collections import Counter

import pytest
from bson import ObjectId

from app.admin import rollup_reads
from app.engine import jobs, rollups
from app.engine.queue import JobQueue
from app.models import PluginJob, utcnow
from tests.support.sink import Reply
from tests.support.wait import wait_until

STATUSES = ("completed", "failed")


def _totals(config_id: str) -> Counter[str]:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    total: Counter[str] = Counter()
    for slot in rollup_reads.deliveries([config_id], since)[0]:
        total.update(
            completed=slot.completed,
            failed=slot.failed,
            cancelled=slot.cancelled,
            retried=slot.retried,
            timed=sum(slot.histogram.values()),
        )
    return Counter({k: v for k, v in total.items() if v})  # (not +total: that hides a negative count)


@pytest.mark.parametrize("plan", [("ok", "ok", "ok"), ("ok", "retry", "bad", "retry"), ("bad", "bad")])
def test_rollups_count_what_the_engine_settles(live_app, live_api, sink, plan):
    """Each submission's ``kind`` scripts its destination: ok (200), retry (500 then 200), bad (400)."""
    seen: Counter[str] = Counter()

    def reply(request):
        kind = json.loads(request.body)["data"]["kind"]
        seen[kind] += 1
        if kind == "bad" or (kind == "retry" and seen[kind] % 2 == 1):
            return Reply(400 if kind == "bad" else 500, b"no")
        return Reply(200)

    sink.responder = reply
    form = live_api.create_form("Rolled", [{"name": "kind", "type": "text"}])
    config = live_api.add_plugin(form["id"], "webhook", {"url": sink.url})
    job_ids = []
    for kind in plan:  # one at a time: the 500s of two "retry" jobs must not interleave
        job_id = live_api.submit(form["id"], {"kind": kind})["jobs"][0]
        wait_until(lambda j=job_id: live_api.job(j)["status"] in STATUSES, what="the job settled")
        job_ids.append(job_id)
    want = Counter(
        completed=plan.count("ok") + plan.count("retry"),
        failed=plan.count("bad"),
        retried=plan.count("retry"),
        timed=plan.count("ok") + plan.count("retry"),
    )
    with live_app.app_context():
        want = Counter({k: v for k, v in want.items() if v})
        wait_until(lambda: _totals(config["id"]) == want, what=f"rollups {want}")
        latest = rollup_reads.latest([config["id"]])[config["id"]]
        last = live_api.job(job_ids[-1])
        assert latest["job_id"] == job_ids[-1] and latest["status"] == last["logs"][-1]["status"]
        slots, errors = rollup_reads.deliveries(
            [config["id"]], dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        )
        if "bad" in plan or "retry" in plan:
            assert "HTTP" in errors[config["id"]].text
        else:
            assert config["id"] not in errors


def _claimed(app, api, count: int) -> tuple[str, list]:
    form = api.create_form()
    config = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/x"})
    for i in range(count):
        api.submit(form["id"], {"n": i})
    with app.app_context():
        return config["id"], JobQueue("test-owner", 60).claim(count)


@pytest.mark.parametrize("count", [1, 3])
def test_a_result_whose_claim_was_lost_is_not_counted(app, api, count):
    config_id, claimed = _claimed(app, api, count)
    with app.app_context():
        lost = claimed[0]
        PluginJob._get_collection().update_one({"_id": lost["_id"]}, {"$set": {"claim_token": "reaped"}})
        jobs.apply_all([jobs.finish(job, jobs.JobStatus.COMPLETED) for job in claimed])
        assert _totals(config_id) == Counter(completed=count - 1, timed=count - 1)


def test_a_result_written_again_after_a_lost_answer_is_counted_once(app, api):
    config_id, claimed = _claimed(app, api, 3)
    with app.app_context():
        changes = [jobs.finish(claimed[0], jobs.JobStatus.FAILED, "HTTP 502")] + [
            jobs.retry(job, 0, "HTTP 500") for job in claimed[1:]
        ]
        # the store wrote the first try but its answer was lost: the writer tries again
        PluginJob._get_collection().bulk_write([c.as_bulk() for c in changes])
        jobs.apply_all(changes)
        assert _totals(config_id) == Counter(failed=1, retried=2)


def test_jobs_cancelled_while_waiting_and_reaped_out_of_attempts_are_counted(app, api):
    config_id, claimed = _claimed(app, api, 2)
    with app.app_context():
        form_id = claimed[0]["form_id"]
        coll = PluginJob._get_collection()
        coll.update_one({"_id": claimed[0]["_id"]}, {"$set": {"lease_expires_at": 1.0, "max_attempts": 1}})
        assert JobQueue("other", 60).reap_expired() == (0, 1)
        jobs.apply(jobs.release(claimed[1]))
        assert jobs.cancel_waiting("Cancelled by a test.", form_id=form_id) == 1
        assert _totals(config_id) == Counter(failed=1, cancelled=1)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("share", [0.5, 0.95])
def test_percentiles_from_the_histogram_are_within_their_bucket(seed, share):
    rng = random.Random(seed)
    shapes = {
        1: lambda: rng.uniform(0.05, 3),
        2: lambda: rng.lognormvariate(0, 2),
        3: lambda: rng.expovariate(0.01),
    }
    values = sorted(shapes[seed]() for _ in range(1 + rng.randrange(2000)))
    exact = values[max(0, math.ceil(share * len(values)) - 1)]
    histogram = Counter(rollups.latency_bucket(v) for v in values)
    approx = rollup_reads.histogram_percentile(histogram, share)
    low, high = rollups.bucket_bounds(rollups.latency_bucket(exact))
    assert approx is not None and low <= exact < high and low <= approx < high
    assert abs(approx - exact) <= high - low


@pytest.mark.parametrize("seconds", [0.0, 0.009, 0.01, 0.5, 1.0, 59.9, 3600.0, 86400 * 400])
def test_every_latency_falls_in_the_bucket_whose_bounds_hold_it(seconds):
    low, high = rollups.bucket_bounds(rollups.latency_bucket(seconds))
    assert low <= seconds < high


def test_a_settled_job_is_counted_in_the_hour_it_was_created():
    created = dt.datetime(2026, 3, 1, 23, 59, 30)
    settled = rollups.Settled(
        ObjectId(), "c1", "f1", "w1", created, "completed", created + dt.timedelta(minutes=2)
    )
    (op,) = rollups.day_ops([settled])
    assert op._filter == {"_id": "c1:2026-03-01"}
    assert op._doc["$inc"] == {"h23_completed": 1, f"h23_lat{rollups.latency_bucket(120)}": 1}


def test_the_latest_attempt_is_the_newest_of_a_batch():
    now = utcnow()
    logs = [
        {"config_id": "c1", "status": "failed", "executed_at": now, "job_id": "b", "error_message": "boom"},
        {"config_id": "c1", "status": "success", "executed_at": now - dt.timedelta(seconds=1), "job_id": "a"},
    ]
    (op,) = rollups.latest_ops(logs)
    assert op._doc["$set"]["job_id"] == "b" and op._doc["$set"]["error_message"] == "boom"


@pytest.mark.parametrize("first", ["completed", "failed"])
def test_a_finished_job_sent_again_counts_once_by_its_new_end(app, api, first):
    config_id, (job,) = _claimed(app, api, 1)
    with app.app_context():
        jobs.apply_all(
            [jobs.finish(job, jobs.JobStatus(first), None if first == "completed" else "HTTP 500")]
        )
        assert _totals(config_id)[first] == 1
        jobs.resend(job["_id"], 1)
        assert _totals(config_id) == Counter()  # taken back, histogram included, until it ends again
        (again,) = JobQueue("test-owner", 60).claim(1)
        jobs.apply_all([jobs.finish(again, jobs.JobStatus.COMPLETED)])
        assert _totals(config_id) == Counter(completed=1, timed=1)
