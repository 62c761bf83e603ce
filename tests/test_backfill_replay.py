"""Backfill and bulk replay: tracked operations with exact counts, cancel, resume, and no duplicates."""

from __future__ import annotations

import collections
import datetime as dt
import statistics
import time

import pymongo
import pytest
from bson import ObjectId

from app.engine import backfill, operations, replay
from app.engine.dispatch import event_key
from app.models import PluginJob, Submission, utcnow
from app.models.search_terms import search_fields
from tests.support.commands import commands_sent
from tests.support.procs import AppProcess, admin_session, app_env
from tests.support.seed import insert_many
from tests.support.sink import Reply
from tests.support.wait import wait_until

FIELDS = [{"name": "email", "type": "email"}, {"name": "budget", "type": "number"}]


def _insert_submissions(
    form: dict, count: int, start: dt.datetime | None = None, indexed: bool = True
) -> list[ObjectId]:
    """Submissions as the intake writes them (``indexed``: with their place in the search index; without,
    as stored before it), straight into the store (fast for large counts)."""
    start = start or utcnow() - dt.timedelta(days=30)
    docs = [
        {
            "_id": ObjectId(),
            "form_id": form["id"],
            "workspace_id": form["workspace_id"],
            "data": {"email": f"u{i}@example.com", "budget": i},
            "revision": 1,
            "deleted": False,
            "created_at": start + dt.timedelta(minutes=i),
            "updated_at": start + dt.timedelta(minutes=i),
            "pending_events": [],
            "dispatch_pending": False,
        }
        for i in range(count)
    ]
    for doc in docs if indexed else ():
        doc.update(search_fields(doc))
    insert_many(Submission._get_collection(), docs)
    return [d["_id"] for d in docs]


def _step(owner: str = "test", inflight_limit: int = 10**9, lease: float = 30.0) -> operations.Step:
    return operations.step(owner, lease, batch_size=500, inflight_limit=inflight_limit, max_attempts=5)


def _run_to_end(owner: str = "test", inflight_limit: int = 10**9, lease: float = 30.0) -> int:
    """Step operations until none has work left (no scheduler: jobs stay pending, so no throttle).
    Returns how many batches ran."""
    batches = 0
    while (step := _step(owner, inflight_limit, lease)).done or step.prepared:
        batches += bool(step.done)
    return batches


def _preview(api, path: str, body: dict, app) -> int:
    """A preview operation's count, once the engine has prepared it."""
    started = api.post(path, {**body, "preview": True})
    assert started.status_code == 202 and started.json["total"] is None, started.json
    with app.app_context():
        _run_to_end()
    done = api.get(f"/api/operations/{started.json['id']}").json
    assert done["status"] == "completed" and done["done"] == 0
    return done["total"]


def _redo_after_a_crash(op_id: str, kind: str, count: int) -> None:
    """A process takes the (prepared) operation, does a batch's work, and dies before counting it."""
    op = operations._claim("dead", lease=0.0)
    assert op is not None and op["prepared"]
    ids = operations._next_ids(op_id, op.get("done", 0), count)
    coll, _ = operations.kind_of(kind).query(op["params"])
    operations.kind_of(kind).process(op, list(coll.find({"_id": {"$in": ids}})), 5)


def _hook(api, form, **extra) -> dict:
    return api.add_plugin(form["id"], "webhook", {"url": "https://example.com/hook"}, **extra)


def _jobs_of(config_id: str) -> list[dict]:
    return list(PluginJob._get_collection().find({"config_id": config_id}, {"submission_id": 1, "status": 1}))


@pytest.mark.heavy(seconds=24)
@pytest.mark.slow
def test_a_backfill_of_10000_submissions_counts_exactly_and_skips_those_with_a_job(api, app):
    form = api.create_form("Leads", FIELDS)
    hook = _hook(api, form)
    with app.app_context():
        ids = _insert_submissions(form, 10_000)
        # 300 of them were dispatched live already (same event occurrence and integration).
        insert_many(
            PluginJob._get_collection(),
            [
                {"_id": ObjectId(), "config_id": hook["id"], "form_id": form["id"], "status": "completed",
                 "submission_id": str(sid), "plugin_id": "webhook", "event": "form.submitted",
                 "dispatch_key": f"{event_key('form.submitted', sid, 1)}:{hook['id']}",
                 "idempotency_key": "x", "attempts": 1, "max_attempts": 5, "scheduled_for": 0.0}
                for sid in ids[:300]
            ]
        )
    assert _preview(api, f"/api/plugin-configs/{hook['id']}/backfill", {}, app) == 10_000

    started = api.post(f"/api/plugin-configs/{hook['id']}/backfill", {})
    assert started.status_code == 202
    with app.app_context():
        _run_to_end()
        jobs = _jobs_of(hook["id"])
    op = api.get(f"/api/operations/{started.json['id']}").json
    assert (op["status"], op["total"], op["done"], op["created"], op["skipped"]) == (
        "completed", 10_000, 10_000, 9_700, 300
    )
    per_submission = collections.Counter(j["submission_id"] for j in jobs)
    assert len(per_submission) == 10_000 and set(per_submission.values()) == {1}


@pytest.mark.parametrize(("indexed", "page"), [(True, 2), (True, 5000), (False, 5000)])
def test_a_backfill_window_and_conditions_choose_the_submissions(api, app, monkeypatch, indexed, page):
    """Whether its submissions are read page by page along the search index (pages smaller than the
    window included) or, stored before the index, at once by time."""
    monkeypatch.setattr(backfill, "SCAN_PAGE", page)
    form = api.create_form("Leads", FIELDS)
    hook = _hook(api, form, conditions={"rules": [{"field": "budget", "op": "gte", "value": 5}]})
    start = dt.datetime(2026, 1, 1)
    with app.app_context():
        _insert_submissions(form, 20, start=start, indexed=indexed)  # one a minute from 00:00
    window = {"since": "2026-01-01T00:03:00Z", "until": "2026-01-01T00:10:00Z"}
    assert _preview(api, f"/api/plugin-configs/{hook['id']}/backfill", window, app) == 7
    op_id = api.post(f"/api/plugin-configs/{hook['id']}/backfill", window).json["id"]
    with app.app_context():
        _run_to_end()
    op = api.get(f"/api/operations/{op_id}").json
    assert (op["done"], op["created"], op["skipped"]) == (7, 5, 2)  # budgets 3 and 4 do not match


def test_a_resend_backfill_sends_again_what_already_had_a_job(api, app):
    form = api.create_form("Leads", FIELDS)
    hook = _hook(api, form)
    for i in range(3):
        api.submit(form["id"], {"email": f"u{i}@example.com"})
    op_id = api.post(f"/api/plugin-configs/{hook['id']}/backfill", {"resend": True}).json["id"]
    with app.app_context():
        _run_to_end()
        assert len(_jobs_of(hook["id"])) == 6
    assert api.get(f"/api/operations/{op_id}").json["created"] == 3


def test_cancelling_a_backfill_midway_stops_it_and_cancels_what_it_queued(api, app):
    form = api.create_form("Leads", FIELDS)
    hook = _hook(api, form)
    with app.app_context():
        _insert_submissions(form, 1200)
    op_id = api.post(f"/api/plugin-configs/{hook['id']}/backfill", {}).json["id"]
    with app.app_context():
        assert _step().prepared
        assert _step().done == 500
    cancelled = api.post(f"/api/operations/{op_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    with app.app_context():
        assert _run_to_end() == 0
        statuses = collections.Counter(j["status"] for j in _jobs_of(hook["id"]))
    assert statuses == {"cancelled": 500}
    assert api.get(f"/api/operations/{op_id}").json["done"] == 500
    assert api.post(f"/api/operations/{op_id}/cancel").status_code == 409


def test_a_batch_redone_after_its_process_died_creates_nothing_twice(api, app):
    form = api.create_form("Leads", FIELDS)
    hook = _hook(api, form)
    with app.app_context():
        _insert_submissions(form, 250)
    op_id = api.post(f"/api/plugin-configs/{hook['id']}/backfill", {}).json["id"]
    with app.app_context():
        assert _step().prepared
        _redo_after_a_crash(op_id, "backfill", 100)
        _run_to_end(owner="survivor")
        assert len(_jobs_of(hook["id"])) == 250
    op = api.get(f"/api/operations/{op_id}").json
    assert (op["done"], op["created"], op["skipped"]) == (250, 250, 0)


def test_a_backfill_waits_while_its_jobs_fill_the_inflight_limit(api, app):
    form = api.create_form("Leads", FIELDS)
    hook = _hook(api, form)
    with app.app_context():
        _insert_submissions(form, 50)
    api.post(f"/api/plugin-configs/{hook['id']}/backfill", {})
    with app.app_context():
        assert _step(inflight_limit=8).prepared
        assert _step(inflight_limit=8).done == 8
        assert _step(inflight_limit=8).throttled
        PluginJob._get_collection().update_many({"config_id": hook["id"]}, {"$set": {"status": "completed"}})
        assert _step(inflight_limit=8).done == 8


def test_a_backfill_refuses_an_integration_that_does_not_run_on_submissions(api):
    form = api.create_form("Leads", FIELDS)
    hook = _hook(api, form, trigger_events=["response.deleted"])
    resp = api.post(f"/api/plugin-configs/{hook['id']}/backfill", {})
    assert resp.status_code == 409 and "form.submitted" in resp.json["error"]["message"]
    bad = api.post(f"/api/plugin-configs/{hook['id']}/backfill", {"since": "yesterday"})
    assert bad.status_code == 422
    assert api.get("/api/operations").json["items"] == []


def _finished_jobs(app, hook: dict, form: dict, statuses: list[str], start: dt.datetime) -> list[ObjectId]:
    docs = [
        {"_id": ObjectId(), "config_id": hook["id"], "form_id": form["id"], "workspace_id": form["workspace_id"],
         "status": status, "submission_id": None, "plugin_id": "webhook", "event": "form.submitted",
         "payload": {}, "dispatch_key": f"k{i}:{hook['id']}", "idempotency_key": f"msg_{i}", "attempts": 5,
         "max_attempts": 5, "scheduled_for": 0.0, "created_at": start + dt.timedelta(hours=i)}
        for i, status in enumerate(statuses)
    ]
    with app.app_context():
        PluginJob._get_collection().insert_many(docs)
    return [d["_id"] for d in docs]


def test_a_replay_of_several_statuses_reads_each_and_finds_them_all(api, app):
    """Each status is read by equality (a ``$in`` walks every job held): the preview counts them all."""
    form = api.create_form("Leads", FIELDS)
    hook = _hook(api, form)
    statuses = ["failed", "completed", "failed", "cancelled", "failed", "completed"]
    _finished_jobs(app, hook, form, statuses, dt.datetime(2026, 3, 3, 12))
    for chosen, count in ((["failed", "cancelled"], 4), (["completed"], 2), (["failed", "cancelled", "completed"], 6)):
        assert _preview(api, "/api/replays", {"config_id": hook["id"], "statuses": chosen}, app) == count


def test_a_replay_reads_a_page_at_a_time_by_status_and_integration(api, app, monkeypatch):
    """A workspace's or a form's replay reads its jobs SCAN_PAGE at a time by (status, integration)
    equality, the window checked on what it read: no read that makes the store walk every job it holds (a
    time range beside another field, or a ``$in``), however many jobs and integrations there are."""
    monkeypatch.setattr(replay, "SCAN_PAGE", 2)
    leads, orders = api.create_form("Leads", FIELDS), api.create_form("Orders", FIELDS)
    statuses = ["failed", "completed", "failed", "failed", "cancelled", "failed", "failed"]  # 12:00 ... 18:00
    for form in (leads, orders):
        _finished_jobs(app, _hook(api, form), form, statuses, dt.datetime(2026, 3, 3, 12))
    window = {"since": "2026-03-03T13:00:00Z", "until": "2026-03-03T18:00:00Z"}  # 13:00 ... 17:00
    workspace = {"workspace_id": leads["workspace_id"], "statuses": ["failed", "cancelled"], **window}
    with app.app_context(), commands_sent() as sent:
        assert _preview(api, "/api/replays", workspace, app) == 2 * 4
        assert _preview(api, "/api/replays", {**workspace, "form_id": orders["id"]}, app) == 4
        assert _preview(api, "/api/replays", {**workspace, "statuses": ["failed"], "until": None}, app) == 2 * 4
    reads = [cmd for name, cmd in sent if name == "find" and cmd["find"] == "plugin_jobs"]
    assert len(reads) > 10
    assert [cmd for cmd in reads if not _by_index(cmd)] == []


def _by_index(cmd: dict) -> bool:
    """Equality on (status, config_id), or the workspace's newest first along (workspace_id, created_at)."""
    filt, equal = cmd["filter"], all("$eq" in v for v in cmd["filter"].values())
    newest = set(filt) == {"workspace_id"} and dict(cmd.get("sort") or {}) == {"created_at": -1}
    return equal and (set(filt) == {"status", "config_id"} or newest)


def test_a_replay_by_status_and_time_range_requeues_exactly_those_jobs(api, app):
    form = api.create_form("Leads", FIELDS)
    hook = _hook(api, form)
    statuses = ["failed", "completed", "failed", "cancelled", "failed", "failed"]
    ids = _finished_jobs(app, hook, form, statuses, dt.datetime(2026, 3, 3, 12))  # 12:00, 13:00 ... 17:00
    body = {"config_id": hook["id"], "statuses": ["failed"], "since": "2026-03-03T14:00:00Z",
            "until": "2026-03-03T17:00:00Z"}
    assert _preview(api, "/api/replays", body, app) == 2  # 14:00 and 16:00
    op_id = api.post("/api/replays", body).json["id"]
    with app.app_context():
        _run_to_end()
        now = {j["_id"]: j for j in PluginJob._get_collection().find({"config_id": hook["id"]})}
    assert [now[i]["status"] for i in ids] == ["failed", "completed", "pending", "cancelled", "pending", "failed"]
    assert now[ids[2]]["idempotency_key"] == "msg_2"  # the receiver sees the same message id
    assert now[ids[2]]["max_attempts"] > now[ids[2]]["attempts"]  # a fresh attempt budget
    op = api.get(f"/api/operations/{op_id}").json
    assert (op["status"], op["total"], op["done"], op["created"]) == ("completed", 2, 2, 2)


def test_a_replay_redone_after_a_crash_requeues_each_job_once(api, app):
    form = api.create_form("Leads", FIELDS)
    hook = _hook(api, form)
    ids = _finished_jobs(app, hook, form, ["failed"] * 5, dt.datetime(2026, 3, 3))
    op_id = api.post("/api/replays", {"form_id": form["id"], "statuses": ["failed"]}).json["id"]
    with app.app_context():
        assert _step().prepared
        _redo_after_a_crash(op_id, "replay", 3)
        # Meanwhile the requeued jobs ran and failed again: the survivor must not send them a third time.
        PluginJob._get_collection().update_many({"_id": {"$in": ids[:3]}}, {"$set": {"status": "failed"}})
        _run_to_end(owner="survivor")
        statuses = [j["status"] for j in PluginJob._get_collection().find({"_id": {"$in": ids}}).sort("_id", 1)]
    assert statuses == ["failed", "failed", "failed", "pending", "pending"]
    op = api.get(f"/api/operations/{op_id}").json
    assert (op["done"], op["created"]) == (5, 5)


def test_a_replay_needs_a_scope_and_statuses(api):
    assert api.post("/api/replays", {"statuses": ["failed"]}).status_code == 422
    assert api.post("/api/replays", {"statuses": ["running"], "workspace_id": "x"}).status_code == 422


@pytest.mark.slow
def test_a_backfill_killed_midway_resumes_after_restart_to_exactly_the_total(
    make_app, store_uri, db_name, tmp_path, sink
):
    from tests.conftest import Api

    api = Api(make_app().test_client())
    form = api.create_form("Leads", FIELDS)
    hook = api.add_plugin(form["id"], "webhook", {"url": sink.url})
    app = make_app()
    with app.app_context():
        _insert_submissions(form, 1500)
    op_id = api.post(f"/api/plugin-configs/{hook['id']}/backfill", {}).json["id"]
    db = pymongo.MongoClient(store_uri)[db_name]
    env = app_env(store_uri, db_name, tmp_path, OPERATION_INFLIGHT="50")

    first = AppProcess(env, tmp_path / "first.log")
    wait_until(lambda: db.operations.find_one({"_id": ObjectId(op_id)})["done"] >= 250, timeout=120,
               what="a sixth of the backfill")
    first.kill()
    assert db.operations.find_one({"_id": ObjectId(op_id)})["done"] < 1500

    second = AppProcess(env, tmp_path / "second.log")
    try:
        session = admin_session()
        wait_until(
            lambda: session.get(f"{second.url}/api/operations/{op_id}").json()["status"] == "completed",
            timeout=180, what="the backfill to complete",
        )
        op = session.get(f"{second.url}/api/operations/{op_id}").json()
    finally:
        second.stop()
    assert (op["total"], op["done"], op["created"], op["skipped"]) == (1500, 1500, 1500, 0)
    per_submission = collections.Counter(j["submission_id"] for j in db.plugin_jobs.find({"config_id": hook["id"]}))
    assert len(per_submission) == 1500 and set(per_submission.values()) == {1}


@pytest.mark.slow
def test_live_submissions_are_not_starved_while_a_backfill_runs(live_api, live_app, sink):
    arrivals: dict[str, float] = {}

    def record(req):
        if req.path == "/live":
            arrivals[req.json()["submission_id"]] = time.monotonic()
        return Reply()

    sink.responder = record
    live_form = live_api.create_form("Live")
    live_api.add_plugin(live_form["id"], "webhook", {"url": sink.url + "/live"})
    old_form = live_api.create_form("Old", FIELDS)
    hook = live_api.add_plugin(old_form["id"], "webhook", {"url": sink.url + "/backfill"})
    with live_app.app_context():
        _insert_submissions(old_form, 2000)

    def latencies(count: int) -> list[float]:
        taken = []
        for i in range(count):
            sub = live_api.submit(live_form["id"], {"n": i})
            sent = time.monotonic()
            wait_until(lambda sub=sub: sub["id"] in arrivals, timeout=30, what="a live delivery")
            taken.append(arrivals[sub["id"]] - sent)
        return taken

    baseline = statistics.median(latencies(10))
    op_id = live_api.post(f"/api/plugin-configs/{hook['id']}/backfill", {}).json["id"]
    wait_until(lambda: live_api.get(f"/api/operations/{op_id}").json["done"] >= 100, timeout=60, what="backfill")
    during = statistics.median(latencies(10))
    assert live_api.get(f"/api/operations/{op_id}").json["status"] == "running"  # measured while it ran
    assert during <= 4 * baseline + 0.3, (baseline, during)


def test_a_workspace_replay_finds_its_failed_workflow_step_jobs(api, app):
    """Found by a review: a step's job carries its step's key (workflow and name), not the workflow's id."""
    from app.engine.jobs import step_key
    from tests.workflows.test_triggers import HOOK

    form = api.create_form("Leads", FIELDS)
    hook = _hook(api, form)
    _finished_jobs(app, hook, form, ["failed"], dt.datetime(2026, 3, 3, 12))
    wf = api.post("/api/workflows", {"name": "A flow", "trigger": {"type": "manual"}, "steps": HOOK}).json
    doc = {"_id": ObjectId(), "config_id": step_key(wf["id"], "hook"), "form_id": form["id"],
           "workspace_id": form["workspace_id"], "status": "failed", "submission_id": None, "plugin_id": "webhook",
           "event": "workflow.run", "payload": {}, "dispatch_key": "run:x:0", "idempotency_key": "run:x:0",
           "attempts": 5, "max_attempts": 5, "scheduled_for": 0.0, "created_at": dt.datetime(2026, 3, 3, 13),
           "run_id": str(ObjectId()), "step": 0}
    with app.app_context():
        PluginJob._get_collection().insert_one(doc)
    body = {"workspace_id": form["workspace_id"], "statuses": ["failed"]}
    assert _preview(api, "/api/replays", body, app) == 2  # the hook's job and the step's job
