"""Another workspace against the newest workflow surfaces: step circuits shown by the API and the editor
(never taken from a PATCH), and schedules read only when due (a save clears the due time)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
from bson import ObjectId
from pymongo import monitoring

from app.contract import ExecutionResult, PluginError
from app.engine import workflow_schedule
from app.engine.circuit import OPEN, step_circuits
from app.engine.jobs import step_key
from app.engine.workflow_schedule import fire_due
from app.models import PluginExecutionLog, PluginJob, Workflow, WorkflowRun
from tests.admin_api.conftest import people  # noqa: F401  (a fixture)
from tests.conftest import Api, ui_login
from tests.support.commands import commands_sent
from tests.test_hostile_workflow_inputs import Careless, _careless_run
from tests.workflows.conftest import create_workflow

HOOK = [{"name": "hook", "plugin_id": "webhook", "config": {"url": "http://127.0.0.1:9/flow"}}]


def _open_circuit(workflow_id: str, step: str = "hook") -> None:
    step_circuits().insert_one(
        {
            "_id": step_key(workflow_id, step),
            "circuit": {"state": OPEN, "failures": 7, "cooldown": 60, "next_trial_at": time.time() + 60},
        }
    )


@pytest.mark.parametrize(
    "circuit",
    [
        {"state": "closed", "failures": 0},
        {"state": "open", "failures": 99, "next_trial_at": 1e18},
        "closed",
        ["open"],
        None,
        5,
        {"$set": {"circuit": {}}},
    ],
)
def test_a_circuit_sent_in_a_patch_changes_no_stored_state(api, circuit):
    wf = create_workflow(api, {"type": "manual"}, HOOK)
    _open_circuit(wf["id"])
    before = api.get(f"/api/workflows/{wf['id']}").json["steps"][0]["circuit"]
    assert before["state"] == OPEN and before["consecutive_failures"] == 7

    step = {**api.get(f"/api/workflows/{wf['id']}").json["steps"][0], "circuit": circuit}
    resp = api.patch(f"/api/workflows/{wf['id']}", {"steps": [step]})
    assert resp.status_code == 200, resp.json
    assert resp.json["steps"][0]["circuit"] == before
    assert "circuit" not in Workflow.objects.get(id=wf["id"]).steps[0]
    assert step_circuits().count_documents({}) == 1


@pytest.mark.parametrize(
    "steps",
    [
        "hook",
        5,
        {"circuit": {}},
        {"0": "hook"},
        [5],
        [None],
        [{"circuit": {"state": "open"}}],
        [{**HOOK[0], "circuit": {}, "config": "x"}],
        [{**HOOK[0], "name": {"circuit": 1}}],
    ],
)
def test_steps_of_odd_shapes_are_a_422_and_change_nothing(api, steps):
    wf = create_workflow(api, {"type": "manual"}, HOOK)
    resp = api.patch(f"/api/workflows/{wf['id']}", {"steps": steps})
    assert resp.status_code == 422, resp.json
    assert Workflow.objects.get(id=wf["id"]).version == wf["version"]


def test_another_workspace_neither_sees_nor_shares_a_steps_circuit(api, people):  # noqa: F811
    a_wf = create_workflow(api, {"type": "manual"}, HOOK)
    _open_circuit(a_wf["id"])
    ws_b = people.workspace("B")
    b = people.member("b@example.com", {ws_b: "owner"}).api
    resp = b.post(
        "/api/workflows",
        {"name": "B flow", "status": "active", "trigger": {"type": "manual"}, "steps": HOOK, "workspace_id": ws_b},
    )
    assert resp.status_code == 201, resp.json
    assert resp.json["steps"][0]["circuit"]["state"] == "closed"  # the same step name: its own circuit
    assert b.get(f"/api/workflows/{a_wf['id']}").status_code == 404
    listed = b.get("/api/workflows").json["items"]
    assert [w["id"] for w in listed] == [resp.json["id"]]
    assert all(s["circuit"]["state"] == "closed" for w in listed for s in w["steps"])
    forged = {**a_wf["steps"][0], "circuit": {"state": "closed"}}
    assert b.patch(f"/api/workflows/{a_wf['id']}", {"steps": [forged]}).status_code == 404
    assert api.get(f"/api/workflows/{a_wf['id']}").json["steps"][0]["circuit"]["state"] == OPEN


def test_the_editor_shows_an_open_step_circuit_and_a_closed_one_says_nothing(app, api):
    wf = create_workflow(api, {"type": "manual"}, [*HOOK, {**HOOK[0], "name": "other"}])
    _open_circuit(wf["id"])
    page = ui_login(app).get(f"/admin/workflows/{wf['id']}").get_data(as_text=True)
    assert page.count("Deliveries paused after 7 failures in a row") == 1


# -- schedules ---------------------------------------------------------------------------------------------


def _saved(wf_id: str) -> dt.datetime:
    return Workflow.objects.get(id=wf_id).updated_at.replace(tzinfo=dt.UTC)


def _fired(wf_id: str) -> list[str]:
    return sorted(r.trigger["data"]["data"]["fire_time"] for r in WorkflowRun.objects(workflow_id=wf_id))


@pytest.mark.parametrize("meanwhile", ["paused", "draft", "archived"])
def test_a_schedule_resumed_fires_no_due_time_that_passed_while_it_was_not_active(make_app, meanwhile):
    app = make_app()
    api = Api(app.test_client())
    wf = create_workflow(api, {"type": "schedule", "cron": "*/5 * * * *"}, HOOK)
    assert fire_due(app, _saved(wf["id"])) == 0  # works out the first due time
    first = dt.datetime.fromtimestamp(Workflow.objects.get(id=wf["id"]).next_fire_at["at"], dt.UTC)
    assert api.patch(f"/api/workflows/{wf['id']}", {"status": meanwhile}).status_code == 200
    resumed = first + dt.timedelta(minutes=3)  # the first due time passed while it was not active
    assert fire_due(app, resumed) == 0
    assert api.patch(f"/api/workflows/{wf['id']}", {"status": "active"}).status_code == 200
    Workflow.objects(id=wf["id"]).update(set__updated_at=resumed.replace(tzinfo=None))  # (resumed then)
    assert fire_due(app, resumed) == 0
    assert _fired(wf["id"]) == []
    fire_due(app, first + dt.timedelta(minutes=5, seconds=1))
    fire_due(app, first + dt.timedelta(minutes=5, seconds=2))
    assert len(_fired(wf["id"])) == 1  # the next due time after resuming fires, once


@pytest.mark.parametrize("change", ["trigger", "steps", "name"])
def test_a_saved_schedule_fires_each_due_time_once_whatever_the_edit(make_app, change):
    app = make_app()
    api = Api(app.test_client())
    wf = create_workflow(api, {"type": "schedule", "cron": "* * * * *"}, HOOK)
    saved = _saved(wf["id"])
    fire_due(app, saved)
    first = dt.datetime.fromtimestamp(Workflow.objects.get(id=wf["id"]).next_fire_at["at"], dt.UTC)
    assert fire_due(app, first + dt.timedelta(seconds=1)) == 1
    body = {
        "trigger": {"type": "schedule", "cron": "* * * * *"},
        "steps": [{**HOOK[0], "retries": 1}],
        "name": "Renamed",
    }[change]
    assert api.patch(f"/api/workflows/{wf['id']}", {change: body}).status_code == 200
    for seconds in (2, 3, 61, 62):
        fire_due(app, first + dt.timedelta(seconds=seconds))
    assert len(_fired(wf["id"])) == 2  # the first due time once, the next once: never again, never stuck


class _Counts(monitoring.CommandListener):
    """Store commands sent by this thread while ``on``."""

    def __init__(self) -> None:
        self.on: threading.Thread | None = None
        self.sent = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.on is threading.current_thread():
            self.sent += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


COUNTS = _Counts()
monitoring.register(COUNTS)  # (clients made from now on report to it; it counts only while switched on)


@pytest.mark.parametrize("flood", [6, 12])
def test_a_workspace_past_its_runs_limit_costs_a_schedule_pass_little_and_others_still_fire(
    make_app,
    people,  # noqa: F811
    flood,
):
    app = make_app(WORKFLOW_RUNS_PER_MINUTE=1)
    api = Api(app.test_client())
    every_second = {"type": "schedule", "cron": "* * * * * *"}
    for _ in range(flood):
        create_workflow(api, every_second, HOOK)
    ws_b = people.workspace("B")
    b = people.member("b@example.com", {ws_b: "owner"}).api
    other = create_workflow(b, every_second, HOOK, workspace_id=ws_b)
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    fire_due(app, now)  # works out the first due times
    COUNTS.sent, COUNTS.on = 0, threading.current_thread()
    try:
        fire_due(app, now + dt.timedelta(seconds=3))
    finally:
        COUNTS.on = None
    assert len(_fired(other["id"])) == 1  # the other workspace's schedule fired
    assert WorkflowRun.objects(status="failed").count() == 1  # one refusal recorded (twice the limit: 2 runs)
    # past twice the limit, the flooding workspace's due times are moved on without asking the store again:
    # one command each (its move), beyond the find and the starts of its first three and the other's (13)
    assert COUNTS.sent <= 14 + flood, COUNTS.sent  # (each was three: 25 for 6, 43 for 12)


def _due_together(first: dict, copies: int, at: float) -> list[str]:
    """``first`` (a saved schedule workflow) and ``copies`` more of it, all due at ``at``."""
    coll = Workflow._get_collection()
    doc = coll.find_one({"_id": ObjectId(first["id"])})
    if copies:
        coll.insert_many([{**doc, "_id": ObjectId()} for _ in range(copies)])
    due = {"at": at, "version": doc["version"]}
    coll.update_many({"workspace_id": doc["workspace_id"]}, {"$set": {"next_fire_at": due}})
    return [str(d["_id"]) for d in coll.find({"workspace_id": doc["workspace_id"]}, {"_id": 1})]


@pytest.mark.parametrize("flood", [120, 240])
def test_a_workspace_with_many_due_schedules_gets_a_share_of_a_pass_and_another_fires_first(
    make_app,
    people,  # noqa: F811
    flood,
):
    app = make_app()
    api = Api(app.test_client())
    every_minute = {"type": "schedule", "cron": "* * * * *"}
    at = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)).replace(second=0, microsecond=0)
    hostile = _due_together(create_workflow(api, every_minute, HOOK), flood - 1, at.timestamp())
    ws_b = people.workspace("B")
    b = people.member("b@example.com", {ws_b: "owner"}).api
    other = _due_together(create_workflow(b, every_minute, HOOK, workspace_id=ws_b), 0, at.timestamp())
    now = at + dt.timedelta(seconds=1)
    with commands_sent() as sent:
        first = fire_due(app, now)
    assert len(_fired(other[0])) == 1  # the other workspace's due time fired in the first pass,
    inserted = [
        c["documents"][0]["workflow_id"] for n, c in sent if n == "insert" and c["insert"] == "workflow_runs"
    ]
    assert other[0] in inserted[:2]  # in the first turn, not behind the flooding workspace's
    assert first == workflow_schedule.SHARE + 1  # the flooding workspace's share, and the other's
    counts = [c for n, c in sent if n == "find" and c["find"] == "workflow_runs" and "created_at" in (c.get("sort") or {})]
    assert len(counts) == 2  # each workspace's runs of the past minute read once in the pass
    # whatever the flood: its share's commands (each due time was 4 or more, in one pass)
    assert len(sent) <= 10 + 4 * (workflow_schedule.SHARE + 1), len(sent)
    passes = [first]
    while passes[-1]:  # the rest stay due and fire in the next passes, each once
        passes.append(fire_due(app, now + dt.timedelta(seconds=len(passes))))
        assert passes[-1] <= workflow_schedule.SHARE
    assert sum(passes) == flood + 1
    assert [len(_fired(i)) for i in hostile] == [1] * flood


@pytest.mark.parametrize(("limit", "before", "due"), [(3, 0, 5), (5, 2, 8), (4, 0, 12)])
def test_a_pass_holds_the_runs_limit_exactly_counting_the_workspaces_runs_once(make_app, limit, before, due):
    app = make_app(WORKFLOW_RUNS_PER_MINUTE=limit)
    api = Api(app.test_client())
    by_hand = create_workflow(api, {"type": "manual"}, HOOK)
    for _ in range(before):  # runs of the past minute the store has
        assert api.post(f"/api/workflows/{by_hand['id']}/run", {"data": {}}).status_code == 202
    at = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)).replace(second=0, microsecond=0)
    _due_together(create_workflow(api, {"type": "schedule", "cron": "* * * * *"}, HOOK), due - 1, at.timestamp())
    with commands_sent() as sent:
        fire_due(app, at + dt.timedelta(seconds=1))
    usage = [c for n, c in sent if n == "find" and c["find"] == "workflow_runs" and "created_at" in (c.get("sort") or {})]
    assert len(usage) == 1 and usage[0]["filter"] == {"workspace_id": {"$eq": by_hand["workspace_id"]}}
    fired = [r["status"] for r in WorkflowRun._get_collection().find({"trigger.type": "schedule"})]
    assert fired.count("running") == limit - before  # as many as the limit leaves, not one more
    assert fired.count("failed") == min(due, 2 * limit - before) - (limit - before)  # refusals recorded


# -- results -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "output",
    [
        {"$set": {"status": "completed"}},
        {"a.b": 1, "$": 2},
        {"x": {"$where": "sleep(1000)", "$oid": "0" * 24}},
        {"": {"": ""}},
        {"_id": "mine", "status": "queued"},
        {"x": "y" * (60 * 1024)},
    ],
)
def test_a_step_output_with_odd_keys_or_near_the_limit_settles_its_step_once(make_app, sink, output):
    _, run = _careless_run(make_app, sink, ("output", output))
    assert run["status"] == "succeeded", run
    assert run["steps"][0]["output"] == output
    assert [j["status"] for j in PluginJob._get_collection().find({"run_id": run["id"]})] == ["completed"] * 2
    assert len(sink.requests) == 1


BIG = 5 * 1024 * 1024
MANY = {f"k{i}": "v" * 20 for i in range(100_000)}  # 3 MB as JSON, no text of it long


def _careless_attempt(make_app, sink, monkeypatch, kind: str, value) -> tuple[Api, dict, dict]:
    """The job and log row of a careless step that returned (or raised with) ``value`` as its ``kind``."""

    def execute(self, ctx):
        if kind == "raise":
            raise PluginError(value, permanent=True)
        return ExecutionResult(value) if kind == "summary" else ExecutionResult("done", **{kind: value})

    monkeypatch.setattr(Careless, "execute", execute)
    api, run = _careless_run(make_app, sink, (kind, value))
    job = PluginJob._get_collection().find_one({"run_id": run["id"], "step": 0})
    assert job["status"] in ("completed", "failed"), job["status"]  # settled, not left to run again
    [row] = PluginExecutionLog._get_collection().find({"job_id": str(job["_id"])})
    assert len(json.dumps(row, default=str, ensure_ascii=False)) < 300 * 1024  # the row is bounded
    assert api.get(f"/api/jobs/{job['_id']}").status_code == 200
    return api, job, row


@pytest.mark.parametrize(
    ("kind", "value", "field"),
    [
        ("summary", "s" * BIG, "summary"),
        ("summary", "é" * BIG, "summary"),
        ("raise", "e" * BIG, "error_message"),
        ("raise", "\U0001f600" * BIG, "error_message"),
        ("summary", "s" * (17 * 1024 * 1024), "summary"),  # over the store's document limit whole
    ],
)
def test_a_plugins_huge_summary_or_error_is_stored_cut_saying_how_long_it_was(
    make_app, sink, monkeypatch, kind, value, field
):
    api, job, row = _careless_attempt(make_app, sink, monkeypatch, kind, value)
    assert len(row[field]) <= 64 * 1024
    assert row[field].startswith(value[:1000]) and row[field].endswith(f"… (cut: {len(value):,} characters)")
    if kind == "raise":  # the job's last error, as the log's
        assert job["last_error"] == row["error_message"]
    page = ui_login(api.client.application).get(f"/admin/jobs/{job['_id']}")
    assert page.status_code == 200 and f"(cut: {len(value):,} characters)" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("kind", "value", "kept"),
    [
        ("response", {"status_code": 502, "body": "b" * BIG}, {"status_code": 502}),
        ("request", {"url": "https://example.com/x", "json": {"note": "n" * BIG}}, {"url": "https://example.com/x"}),
        ("summary", {"detail": ["d" * BIG]}, {}),
        ("response", {"status_code": 200, "k" * BIG: 1}, {"status_code": 200}),
    ],
)
def test_a_plugins_object_with_a_huge_text_stays_an_object_with_that_text_cut(
    make_app, sink, monkeypatch, kind, value, kept
):
    _, _, row = _careless_attempt(make_app, sink, monkeypatch, kind, value)
    stored = row[kind]
    assert {k: stored[k] for k in kept} == kept
    assert f"… (cut: {BIG:,} characters)" in json.dumps(stored, ensure_ascii=False)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("summary", MANY),
        ("summary", [list(MANY)]),
        ("request", {"status_code": 200, **MANY}),
        ("response", {"status_code": 502, "items": list(MANY.values())}),
    ],
)
def test_a_plugins_summary_request_or_response_of_many_small_parts_is_kept_as_an_excerpt(
    make_app, sink, monkeypatch, kind, value
):
    _, _, row = _careless_attempt(make_app, sink, monkeypatch, kind, value)
    stored = row[kind]
    if isinstance(value, dict):
        assert stored["status_code"] == value.get("status_code")  # an object stays an object
        stored = stored["cut"]
    assert stored.startswith(json.dumps(value)[:100])
    assert stored.endswith(f"… (cut: {len(json.dumps(value)):,} characters as JSON)")
