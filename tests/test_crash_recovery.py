"""Real processes killed with SIGKILL, and several processes on one store."""

from __future__ import annotations

import collections

import pymongo
import pytest
import requests

from app.models import PluginJob
from tests.conftest import Api
from tests.support.procs import AppProcess, admin_session, app_env
from tests.support.sink import Reply
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow


def _statuses(db) -> collections.Counter:
    return collections.Counter(j["status"] for j in db.plugin_jobs.find({}, {"status": 1}))


def _deliveries(sink) -> dict[str, set]:
    """webhook-id → the submissions delivered under it."""
    delivered: dict[str, set] = collections.defaultdict(set)
    for r in sink.requests:
        delivered[r.headers["webhook-id"]].add(r.json()["submission_id"])
    return delivered


def _enqueue(make_app, sink, count: int) -> set[str]:
    """Create a form with a webhook and ``count`` submissions, with no scheduler running."""
    api = Api(make_app().test_client())
    form = api.create_form()
    api.add_plugin(form["id"], "webhook", {"url": sink.url})
    return {api.submit(form["id"], {"n": i})["jobs"][0] for i in range(count)}


def test_sigkill_in_the_middle_of_1000_jobs_then_restart(make_app, store_uri, db_name, tmp_path, sink):
    job_ids = _enqueue(make_app, sink, 1000)
    db = pymongo.MongoClient(store_uri)[db_name]
    env = app_env(store_uri, db_name, tmp_path)

    first = AppProcess(env, tmp_path / "first.log")
    sink.wait_for(300, timeout=120)
    first.kill()
    assert _statuses(db)["completed"] < 1000

    second = AppProcess(env, tmp_path / "second.log")
    try:
        wait_until(lambda: _statuses(db)["completed"] == 1000, timeout=180, what="all 1000 completed")
    finally:
        second.stop()
    delivered = _deliveries(sink)
    assert set(delivered) == {f"msg_{j}" for j in job_ids}
    # A job delivered twice (killed after sending, before recording) carries the same webhook-id both times.
    assert all(len(subs) == 1 for subs in delivered.values())


def test_crash_between_submission_and_jobs_is_finished_by_the_sweep_exactly_once(
    store_uri, db_name, tmp_path, sink
):
    env = app_env(store_uri, db_name, tmp_path)
    crashing = AppProcess(
        {**env, "FAULT_INJECTION": "crash_before_jobs", "SCHEDULER_ENABLED": "false"}, tmp_path / "crash.log"
    )
    s = admin_session()
    form = s.post(crashing.url + "/api/forms", json={"name": "f"}).json()
    s.post(
        f"{crashing.url}/api/forms/{form['id']}/plugins",
        json={"plugin_id": "webhook", "config": {"url": sink.url}},
    )
    with pytest.raises(requests.ConnectionError):
        s.post(f"{crashing.url}/api/forms/{form['id']}/submissions", json={"data": {"n": 1}})
    crashing.proc.wait(10)
    db = pymongo.MongoClient(store_uri)[db_name]
    [sub] = db.submissions.find()
    assert sub["dispatch_pending"] is True and db.plugin_jobs.count_documents({}) == 0

    for run in ("first", "second"):  # a second restart must not dispatch again
        app = AppProcess(env, tmp_path / f"{run}.log")
        try:
            sink.wait_for(1)
            wait_until(lambda: _statuses(db)["completed"] == 1, what="swept job completed")
            wait_until(lambda: not db.submissions.find_one()["dispatch_pending"], what="marker cleared")
        finally:
            app.stop()
    assert db.plugin_jobs.count_documents({}) == 1
    assert len(sink.requests) == 1
    assert sink.requests[0].json()["submission_id"] == str(sub["_id"])


def test_three_processes_on_one_store_run_1000_jobs_exactly_once(
    make_app, store_uri, db_name, tmp_path, sink
):
    job_ids = _enqueue(make_app, sink, 1000)
    # A slowish destination keeps the first process busy while the others start, so all of them compete.
    sink.responder = lambda req: Reply(200, delay=0.03)
    env = app_env(store_uri, db_name, tmp_path, LEASE_SECONDS="30")
    procs = [AppProcess(env, tmp_path / f"app{i}.log") for i in range(3)]
    try:
        sink.wait_for(1000, timeout=180)
        db = pymongo.MongoClient(store_uri)[db_name]
        wait_until(lambda: _statuses(db)["completed"] == 1000, timeout=60, what="all completed")
    finally:
        for p in procs:
            p.stop()
    ids = collections.Counter(r.headers["webhook-id"] for r in sink.requests)
    assert set(ids) == {f"msg_{j}" for j in job_ids}
    assert set(ids.values()) == {1}
    owners = {
        entry["worker"] for entry in db.plugin_execution_logs.find({}, {"worker": 1}) if entry.get("worker")
    }
    assert len(owners) >= 2  # the work really was shared


def test_sink_failing_half_the_time_every_job_delivered_within_budget(make_app, sink):
    seen: collections.Counter = collections.Counter()

    def flaky(req):
        seen[req.headers["webhook-id"]] += 1
        return Reply(503) if seen[req.headers["webhook-id"]] == 1 else Reply(200)

    sink.responder = flaky
    # Every first attempt fails: ten in a row would open the circuit (tested in test_circuit.py), not this.
    app = make_app(SCHEDULER_ENABLED=True, CIRCUIT_FAILURE_THRESHOLD=1000)
    api = Api(app.test_client())
    form = api.create_form()
    api.add_plugin(form["id"], "webhook", {"url": sink.url})
    jobs = [api.submit(form["id"], {"n": i})["jobs"][0] for i in range(100)]
    wait_until(lambda: PluginJob.objects(status="completed").count() == 100, timeout=60, what="all delivered")
    finished = [api.job(j) for j in jobs]
    assert {j["status"] for j in finished} == {"completed"}
    assert {j["attempts"] for j in finished} == {2}
    assert len(sink.requests) == 200  # half of all requests failed
