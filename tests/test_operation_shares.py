"""Operations share the engine: turns go round the workspaces, one running operation per integration, a cap
per workspace, and an integration is sent again at most once per OPERATION_RESEND_INTERVAL."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from bson import ObjectId

from app.engine import operations
from app.models import Operation, PluginJob
from tests.conftest import Api
from tests.support.sink import Reply
from tests.support.wait import wait_until
from tests.test_backfill_replay import FIELDS, _finished_jobs, _hook, _insert_submissions, _run_to_end, _step


def _ops(**workspaces: int) -> dict[str, str]:
    """Prepared running operations with nothing to do, by workspace: op id -> workspace."""
    docs = [
        {
            "_id": ObjectId(),
            "workspace_id": ws,
            "kind": "replay",
            "params": {},
            "status": "running",
            "prepared": True,
            "total": 1,
            "done": 0,
            "lease_expires_at": 0.0,
        }
        for ws, count in workspaces.items()
        for _ in range(count)
    ]
    Operation._get_collection().insert_many(docs)
    return {str(d["_id"]): d["workspace_id"] for d in docs}


@pytest.mark.parametrize(("a", "b"), [(2, 1), (3, 1), (1, 1)])
def test_turns_go_round_the_workspaces_however_many_operations_each_runs(app, a, b):
    with app.app_context():
        ops = _ops(A=a, B=b)
        turns = [str(operations._claim("me", lease=0.0)["_id"]) for _ in range(4 * max(a, b))]
    assert [ops[t] for t in turns] == ["A", "B"] * (2 * max(a, b))
    assert set(t for t in turns if ops[t] == "A") == {op for op, ws in ops.items() if ws == "A"}


def test_a_throttled_operation_waits_behind_another_workspaces(api, app):
    form_a, form_b = api.create_form("A", FIELDS), api.create_form("B", FIELDS)
    hook_a, hook_b = _hook(api, form_a), _hook(api, form_b)
    _finished_jobs(app, hook_a, form_a, ["completed"] * 20, dt.datetime(2026, 3, 3))
    with app.app_context():
        _insert_submissions(form_b, 3)
        replay = operations.start(
            "replay", "A", {"workspace_id": form_a["workspace_id"], "statuses": ["completed"]}, None
        )
        backfill = operations.start(
            "backfill", "B", {"config_id": hook_b["id"], "form_id": form_b["id"]}, None
        )
        steps = [_step(inflight_limit=3) for _ in range(6)]  # A's jobs never drain here: it stays throttled
        done = Operation.objects.get(id=backfill.id)
    assert (done.done, done.created) == (3, 3)  # every item of B's got its job while A's waited
    assert any(s.throttled and s.op_id == str(replay.id) for s in steps)


def test_an_integration_runs_one_operation_at_a_time(make_app):
    api = Api(make_app(OPERATIONS_PER_WORKSPACE=0).test_client())
    form = api.create_form("Leads", FIELDS)
    hook, other = _hook(api, form), _hook(api, form)
    first = api.post(f"/api/plugin-configs/{hook['id']}/backfill", {})
    assert first.status_code == 202

    refused = [
        api.post(f"/api/plugin-configs/{hook['id']}/backfill", {"resend": True}),
        api.post("/api/replays", {"config_id": hook["id"], "statuses": ["failed"]}),
        api.post("/api/replays", {"form_id": form["id"], "statuses": ["failed"]}),
        api.post("/api/replays", {"workspace_id": form["workspace_id"], "statuses": ["failed"]}),
    ]
    assert [r.status_code for r in refused] == [409] * 4
    assert all("already has a backfill running" in r.json["error"]["message"] for r in refused)
    assert {r.json["error"]["details"]["operation_id"] for r in refused} == {first.json["id"]}
    assert api.post(f"/api/plugin-configs/{hook['id']}/backfill", {"preview": True}).status_code == 202
    assert api.post(f"/api/plugin-configs/{other['id']}/backfill", {}).status_code == 202  # another one

    assert api.post(f"/api/operations/{first.json['id']}/cancel").status_code == 200
    assert api.post(f"/api/plugin-configs/{hook['id']}/backfill", {}).status_code == 202


@pytest.mark.parametrize("cap", [1, 2, 3])
def test_a_workspace_runs_at_most_its_cap_of_operations(make_app, cap):
    app = make_app(OPERATIONS_PER_WORKSPACE=cap)
    api = Api(app.test_client())
    form = api.create_form("Leads", FIELDS)
    hooks = [_hook(api, form) for _ in range(cap + 1)]
    started = [api.post(f"/api/plugin-configs/{h['id']}/backfill", {}) for h in hooks]

    assert [r.status_code for r in started] == [202] * cap + [429]
    assert started[-1].json["error"]["code"] == "too_many_operations"
    assert f"already runs {cap} operations" in started[-1].json["error"]["message"]
    assert (
        Operation.objects(workspace_id=form["workspace_id"]).count() == cap
    )  # the refused one wrote nothing
    with app.app_context():
        _run_to_end()  # (no submissions: they complete)
    assert api.post(f"/api/plugin-configs/{hooks[-1]['id']}/backfill", {}).status_code == 202


def test_ten_replays_of_an_integration_in_a_row_send_its_jobs_again_once(make_app):
    app = make_app(OPERATION_RESEND_INTERVAL=60)
    api = Api(app.test_client())
    form = api.create_form("Leads", FIELDS)
    hook, other = _hook(api, form), _hook(api, form)
    _finished_jobs(app, hook, form, ["completed"] * 50, dt.datetime(2026, 3, 3))
    answers = []
    for _ in range(10):
        answers.append(api.post("/api/replays", {"config_id": hook["id"], "statuses": ["completed"]}))
        with app.app_context():
            _run_to_end()  # each one finished before the next is asked for
            PluginJob._get_collection().update_many(
                {"config_id": hook["id"]}, {"$set": {"status": "completed"}}
            )

    assert [a.status_code for a in answers] == [202] + [429] * 9
    assert answers[1].json["error"]["code"] == "rate_limited"
    assert 1 <= int(answers[1].headers["Retry-After"]) <= 60
    assert sum(Operation.objects.get(id=a.json["id"]).created for a in answers[:1]) == 50
    resend = api.post(f"/api/plugin-configs/{hook['id']}/backfill", {"resend": True})
    assert resend.status_code == 429  # a backfill that sends again is a resend too
    assert (
        api.post(f"/api/plugin-configs/{hook['id']}/backfill", {}).status_code == 202
    )  # skips what was sent
    assert api.post("/api/replays", {"config_id": other["id"], "statuses": ["completed"]}).status_code == 202


def test_without_a_resend_interval_an_integration_is_replayed_again_at_once(make_app):
    app = make_app(OPERATION_RESEND_INTERVAL=0)
    api = Api(app.test_client())
    form = api.create_form("Leads", FIELDS)
    hook = _hook(api, form)
    for _ in range(3):
        assert api.post("/api/replays", {"config_id": hook["id"], "statuses": ["failed"]}).status_code == 202
        with app.app_context():
            _run_to_end()


def test_a_small_backfill_completes_while_another_workspaces_replay_waits_on_a_slow_destination(
    make_app, sink
):
    slow, release = threading.Event(), threading.Event()
    sink.responder = lambda req: (slow.is_set() and req.path == "/slow" and release.wait(20)) or Reply()
    app = make_app(SCHEDULER_ENABLED=True, WORKER_THREADS=8, OPERATION_INFLIGHT=4)
    api = Api(app.test_client())
    form_a, form_b = api.create_form("A", FIELDS), api.create_form("B", FIELDS)
    hook_a = api.add_plugin(form_a["id"], "webhook", {"url": sink.url + "/slow"})
    hook_b = api.add_plugin(form_b["id"], "webhook", {"url": sink.url + "/fast"})
    delivered = [api.submit(form_a["id"], {"budget": n})["jobs"][0] for n in range(12)]
    wait_until(
        lambda: all(api.job(j)["status"] == "completed" for j in delivered), timeout=20, what="A's jobs"
    )
    slow.set()  # A's destination now answers after 20 s
    try:
        with app.app_context():
            _insert_submissions(form_b, 3)
            params = {
                "workspace_id": form_a["workspace_id"],
                "statuses": ["completed"],
                "config_id": hook_a["id"],
            }
            operations.start("replay", "A", params, None)
        wait_until(lambda: sum(r.path == "/slow" for r in sink.requests) > 12, timeout=10, what="A's replay")
        with app.app_context():
            backfill = operations.start(
                "backfill", "B", {"config_id": hook_b["id"], "form_id": form_b["id"]}, None
            )
        started = time.monotonic()
        wait_until(
            lambda: sum(r.path == "/fast" for r in sink.requests) == 3,
            timeout=10,
            what="B's backfill delivered",
        )
        assert time.monotonic() - started < 5
        wait_until(
            lambda: Operation.objects.get(id=backfill.id).status == "completed", timeout=5, what="its end"
        )
    finally:
        release.set()
