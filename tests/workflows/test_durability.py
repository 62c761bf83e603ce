"""Workflow runs survive a SIGKILL of the app in the middle of their steps, and a schedule fires once per due
time across several app processes and a restart of one (real processes on one store)."""

from __future__ import annotations

import collections
import datetime as dt
import os

import pymongo
import pytest

from tests.conftest import Api
from tests.support.procs import AppProcess, admin_session, app_env
from tests.support.sink import Reply
from tests.support.wait import wait_until
from tests.workflows.conftest import FIELDS

pytestmark = pytest.mark.slow

# the figure: 200 runs (about 40 s on a busy 2-core host); FH_CRASH_RUNS=n for another count
RUNS = int(os.environ.get("FH_CRASH_RUNS", "200"))
STEPS = 3
# a schedule's period in seconds and the due times to see: 2 s and 6 here; the figure (every minute
# for ten minutes) with FH_CRON_PERIOD=60 FH_CRON_FIRES=10 and pytest's --timeout=1200
CRON_PERIOD = int(os.environ.get("FH_CRON_PERIOD", "2"))
CRON_FIRES = int(os.environ.get("FH_CRON_FIRES", "6"))


def _run_statuses(db) -> collections.Counter:
    return collections.Counter(r["status"] for r in db.workflow_runs.find({}, {"status": 1}))


def test_sigkill_during_step_2_of_many_runs_then_restart_every_run_completes_each_side_effect_under_one_key(
    make_app, store_uri, db_name, tmp_path, sink
):
    api = Api(make_app().test_client())  # no scheduler: the runs and their first jobs wait in the store
    form = api.create_form("Leads", FIELDS)
    steps = [
        {"name": f"s{i}", "plugin_id": "webhook", "config": {"url": f"{sink.url}/step?step={i}"}}
        for i in range(STEPS)
    ]
    resp = api.post(
        "/api/workflows",
        {"name": "Chain", "status": "active", "trigger": {"type": "form_event", "form_id": form["id"]}, "steps": steps},
    )
    assert resp.status_code == 201, resp.json
    for i in range(RUNS):
        api.submit(form["id"], {"email": f"p{i}@example.com", "name": f"P{i}"})
    db = pymongo.MongoClient(store_uri)[db_name]
    run_ids = [str(r["_id"]) for r in db.workflow_runs.find({}, {"_id": 1})]
    assert len(run_ids) == RUNS
    # step 2 answers slowly, so that many runs are in it when the process dies
    sink.responder = lambda req: Reply(200, delay=0.15 if req.query.get("step") == "1" else 0)
    env = app_env(store_uri, db_name, tmp_path)

    first = AppProcess(env, tmp_path / "first.log")
    wait_until(
        lambda: sum(r.query.get("step") == "1" for r in sink.requests) >= RUNS // 3,
        timeout=120,
        what="a third of the runs in step 2",
    )
    first.kill()
    at_kill = _run_statuses(db)
    assert at_kill["running"] > 0  # the kill did land in the middle

    second = AppProcess(env, tmp_path / "second.log")
    try:
        wait_until(lambda: _run_statuses(db)["succeeded"] == RUNS, timeout=240, what="every run succeeded")
    finally:
        second.stop()
    keys: dict[str, set[str]] = collections.defaultdict(set)  # webhook-id -> the steps delivered under it
    for r in sink.requests:
        keys[r.headers["webhook-id"]].add(r.query["step"])
    expected = {f"run:{run}:{i}" for run in run_ids for i in range(STEPS)}
    assert set(keys) == expected  # every step of every run happened, each under its own key only
    assert all(keys[f"run:{run}:{i}"] == {str(i)} for run in run_ids for i in range(STEPS))
    assert _run_statuses(db) == {"succeeded": RUNS}


def _every(seconds: int) -> str:
    """A crontab line due every ``seconds`` (a divisor of 60, or whole minutes)."""
    if seconds % 60 == 0:
        return f"*/{seconds // 60} * * * *"
    return f"*/{seconds} * * * * *"  # six fields: seconds first


def test_a_schedule_on_three_processes_fires_each_due_time_once_across_a_restart(
    make_app, store_uri, db_name, tmp_path, sink
):
    env = app_env(store_uri, db_name, tmp_path, WORKFLOW_SCHEDULE_INTERVAL="0.2")
    procs = [AppProcess(env, tmp_path / f"app{i}.log") for i in range(3)]
    session = admin_session()
    try:
        body = {
            "name": f"Every {CRON_PERIOD} s",
            "status": "active",
            "trigger": {"type": "schedule", "cron": _every(CRON_PERIOD)},
            "steps": [{"name": "tick", "plugin_id": "webhook", "config": {"url": sink.url}}],
        }
        wf = session.post(procs[0].url + "/api/workflows", json=body).json()
        db = pymongo.MongoClient(store_uri)[db_name]
        fired = lambda: db.workflow_runs.count_documents({"workflow_id": wf["id"]})  # noqa: E731
        half, window = CRON_FIRES // 2, CRON_FIRES * CRON_PERIOD + 30
        wait_until(lambda: fired() >= half, timeout=window, what=f"{half} due times fired")
        procs[1].kill()  # one process dies ...
        procs[1] = AppProcess(env, tmp_path / "app1-again.log")  # ... and comes back
        wait_until(lambda: fired() >= CRON_FIRES, timeout=window, what=f"{CRON_FIRES} due times fired")
        session.patch(procs[0].url + f"/api/workflows/{wf['id']}", json={"status": "paused"})
        wait_until(
            lambda: all(r["status"] != "running" for r in db.workflow_runs.find({}, {"status": 1})),
            timeout=30,
            what="the runs finished",
        )
    finally:
        for p in procs:
            p.stop()
    times = sorted(
        dt.datetime.fromisoformat(r["trigger"]["data"]["data"]["fire_time"].replace("Z", "+00:00"))
        for r in db.workflow_runs.find({"workflow_id": wf["id"]}, {"trigger": 1})
    )
    gaps = {(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)}
    assert len(times) == len(set(times)) >= CRON_FIRES  # none twice
    assert gaps == {float(CRON_PERIOD)}  # none missed between the first and the last
    assert {r["status"] for r in db.workflow_runs.find({}, {"status": 1})} == {"succeeded"}
    assert len({r.headers["webhook-id"] for r in sink.requests}) == len(times)
