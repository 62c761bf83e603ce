"""The job collection is the source of truth: concurrent schedulers, crashes, restarts."""

from __future__ import annotations

import collections

import pymongo
import pytest

from app.engine.scheduler import Scheduler
from app.models import PluginJob
from tests.conftest import Api
from tests.support.procs import AppProcess, admin_session, app_env
from tests.support.sink import Reply
from tests.support.wait import wait_until


def _statuses(db) -> collections.Counter:
    return collections.Counter(j["status"] for j in db.plugin_jobs.find({}, {"status": 1}))


def test_two_schedulers_on_one_database_run_each_job_exactly_once(make_app, sink):
    first = make_app()
    second = make_app()
    api = Api(first.test_client())
    form = api.create_form()
    api.add_plugin(form["id"], "webhook", {"url": sink.url})
    job_ids = [api.submit(form["id"], {"n": i})["jobs"][0] for i in range(500)]

    schedulers = [Scheduler(first, owner="one"), Scheduler(second, owner="two")]
    for s in schedulers:
        s.start()
    try:
        sink.wait_for(500, timeout=120)
        wait_until(
            lambda: PluginJob.objects(status="completed").count() == 500, timeout=60, what="all completed"
        )
    finally:
        for s in schedulers:
            s.shutdown(grace=2)

    ids = collections.Counter(r.headers["webhook-id"] for r in sink.requests)
    assert len(sink.requests) == 500
    assert set(ids.values()) == {1}
    assert set(ids) == {f"msg_{j}" for j in job_ids}


@pytest.mark.slow
def test_jobs_running_in_a_killed_process_complete_after_restart(store_uri, db_name, tmp_path, sink):
    # one workspace that may use every thread (WORKSPACE_SHARE 1): its 4 calls hang at once
    env = app_env(store_uri, db_name, tmp_path, WORKER_THREADS="4", JOB_TIMEOUT="20", WORKSPACE_SHARE="1")
    sink.responder = lambda req: Reply(200, delay=30)  # every delivery hangs: jobs stay running
    first = AppProcess(env, tmp_path / "first.log")
    s = admin_session()
    form = s.post(first.url + "/api/forms", json={"name": "f"}).json()
    s.post(
        f"{first.url}/api/forms/{form['id']}/plugins",
        json={"plugin_id": "webhook", "config": {"url": sink.url}},
    )
    job_ids = {
        s.post(f"{first.url}/api/forms/{form['id']}/submissions", json={"data": {"n": i}}).json()["jobs"][0]
        for i in range(10)
    }
    db = pymongo.MongoClient(store_uri)[db_name]
    wait_until(lambda: _statuses(db)["running"] >= 4, what="jobs running in the first process")

    first.kill()
    assert _statuses(db)["running"] >= 4  # left behind by the dead process

    sink.responder = lambda req: Reply(200)
    second = AppProcess(env, tmp_path / "second.log")
    try:
        wait_until(
            lambda: _statuses(db)["completed"] == 10, timeout=60, what="all jobs completed after restart"
        )
    finally:
        second.stop()
    delivered = collections.defaultdict(set)
    for r in sink.requests:
        delivered[r.headers["webhook-id"]].add(r.json()["submission_id"])
    assert set(delivered) == {f"msg_{j}" for j in job_ids}
    assert all(len(subs) == 1 for subs in delivered.values())  # a redelivery carries the same webhook-id
