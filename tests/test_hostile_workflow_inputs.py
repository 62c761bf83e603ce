"""Attacks on the newest surfaces (workflows, Sheets extra columns, step circuits, strict JSON, the store
check), as a hostile workspace, a careless plugin or a careless heavy user: each a 4xx or a recorded
failure, never a 500, a stuck job or another workspace's harm."""

from __future__ import annotations

from typing import Any, ClassVar

import marshmallow
import pytest

from app.contract import ExecutionResult, Plugin, PluginError
from app.engine import jobs
from app.engine.queue import JobQueue
from app.engine.runner import run_one
from app.engine.writer import ResultWriter
from app.models import JobStatus, PluginExecutionLog, PluginJob, WorkflowRun
from app.services import services
from tests.conftest import Api
from tests.plugins.conftest import google  # noqa: F401  (a fixture)
from tests.support.wait import wait_until
from tests.workflows.conftest import SHEET_KEY, create_workflow, finished_run, sheets_step


class _NoConfig(marshmallow.Schema):
    pass


class Careless(Plugin):
    """Returns (or raises with) what ``returns`` holds: what a careless third-party plugin might."""

    id = "careless"
    name = "Careless"
    config_schema = _NoConfig
    returns: ClassVar[Any] = None

    def execute(self, ctx):
        kind, value = Careless.returns
        if kind == "raise":
            raise PluginError(value, permanent=True)
        if kind == "summary":
            return ExecutionResult(value)
        return ExecutionResult("done", output=value)


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def _careless_run(make_app, sink, returns: tuple[str, Any]) -> tuple[Api, dict]:
    """A run of [careless step, webhook step] with every job claimed and run to its outcome once."""
    app = make_app()
    services(app).plugins.register(Careless, "tests")
    api = Api(app.test_client())
    steps = [
        {"name": "odd", "plugin_id": "careless", "config": {}},
        {"name": "hook", "plugin_id": "webhook", "config": {"url": f"{sink.url}/next"}},
    ]
    wf = create_workflow(api, {"type": "manual"}, steps)
    Careless.returns = returns
    run = api.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).json
    path = f"/api/workflow-runs/{run['id']}"
    def moved_on() -> bool:  # (in a thread: the run's record, then the next step's job)
        shown = api.get(path).json
        next_job = PluginJob._get_collection().count_documents({"run_id": run["id"], "step": 1})
        return shown["steps"][0]["status"] != "pending" and (shown["status"] != "running" or next_job > 0)

    for settled in (moved_on, lambda: api.get(path).json["status"] != "running"):
        for job in JobQueue("me", lease_seconds=30).claim(10):  # the careless step, then the next one
            run_one(app, job)
        wait_until(settled, timeout=5, what="the run to move on")
    return api, api.get(path).json


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ({"a\x00b": 1}, "NUL"),
        ({1: "one"}, "keys must be text"),
        ({"x": {2: "two"}}, "keys must be text"),
        ({"x": "\ud800"}, "lone surrogate"),
        ({"\udfff": 1}, "lone surrogate"),
        ({"n": 2**70}, "64 bits"),
        ({"n": [-(2**64)]}, "64 bits"),
        (_nested(100), "nested deeper"),
    ],
)
def test_a_step_output_the_store_cannot_hold_fails_the_step_and_leaves_no_job_running(
    make_app, sink, output, reason
):
    _, run = _careless_run(make_app, sink, ("output", output))
    assert run["status"] == "failed", run
    assert run["steps"][0]["status"] == "failed" and reason in run["steps"][0]["error"]
    assert [j["status"] for j in PluginJob._get_collection().find({"run_id": run["id"]})] == ["failed"]
    assert sink.requests == []


@pytest.mark.parametrize(
    ("returns", "field", "kept"),
    [
        (("summary", "sent \ud800"), "summary", "sent \ufffd"),
        (("raise", "refused \udc80 \U0001f600"), "error_message", "refused \ufffd \U0001f600"),
        (("summary", {"k\x00": 2**80}), "summary", {"k\ufffd": str(2**80)}),
    ],
)
def test_a_plugins_summary_or_error_the_store_cannot_hold_is_recorded_not_retried_forever(
    make_app, sink, returns, field, kept
):
    api, run = _careless_run(make_app, sink, returns)
    job = PluginJob._get_collection().find_one({"run_id": run["id"], "step": 0})
    assert job["status"] in ("completed", "failed"), job["status"]  # (was left running, to run again)
    [row] = PluginExecutionLog._get_collection().find({"job_id": str(job["_id"])})
    assert row[field] == kept
    assert api.get(f"/api/jobs/{job['_id']}").status_code == 200


def test_one_result_the_store_refuses_does_not_fail_the_others_in_its_batch(app, api):
    form = api.create_form("F", [{"name": "email", "type": "email"}])
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/a"})
    for _ in range(3):
        api.submit(form["id"], {"email": "a@example.com"})
    claimed = JobQueue("me", lease_seconds=30).claim(10)
    assert len(claimed) == 3
    rows = [{"job_id": str(j["_id"]), "summary": "ok"} for j in claimed]
    rows[1]["summary"] = "poison \ud800"  # (as no outcome writes it any more: the writer's own guard)
    followed: list[int] = []
    ResultWriter(services(app).inserts.submissions.group.atomic, inline=True).write(
        [
            (row, jobs.finish(j, JobStatus.COMPLETED), lambda i=i: followed.append(i))
            for i, (row, j) in enumerate(zip(rows, claimed, strict=True))
        ]
    )
    assert followed == [0, 2]  # what follows a result (a run moving on) waits for it to be written
    statuses = {str(j["_id"]): j["status"] for j in PluginJob._get_collection().find({})}
    assert [statuses[str(j["_id"])] for j in claimed] == ["completed", "running", "completed"]
    assert PluginExecutionLog._get_collection().count_documents({}) == 2


DEEP_TEMPLATES = [
    "{{ " + "x|" * 500 + "x }}",
    "{{ " + "(" * 400 + "1" + ")" * 400 + " }}",
    "{{ " + "[" * 400 + "]" * 400 + " }}",
    "{{ x" + ".y" * 3000 + " }}",
    "{% if x %}" * 400 + "{% endif %}" * 400,
]


@pytest.mark.parametrize("source", DEEP_TEMPLATES)
def test_a_template_nested_too_deeply_to_compile_is_a_422_at_save(api, source):
    step = {"name": "hook", "plugin_id": "webhook", "config": {"url": source}}
    resp = api.post("/api/workflows", {"name": "Deep", "trigger": {"type": "manual"}, "steps": [step]})
    assert resp.status_code == 422, resp.status_code
    assert "nested too deeply" in str(resp.json["error"]["details"]["steps.0.config"]["url"])
    form = api.create_form("F", [{"name": "email", "type": "email"}])
    resp = api.post(
        f"/api/forms/{form['id']}/plugins",
        {
            "plugin_id": "slack",
            "config": {"webhook_url": "https://hooks.slack.com/services/T/B/x", "text": source},
        },
    )
    assert resp.status_code == 422, resp.status_code
    assert "nested too deeply" in str(resp.json["error"]["details"]), resp.json
    assert api.get("/api/workflows").json["items"] == []


@pytest.mark.parametrize("headers", [{"$x": "1"}, {"ok": "1", "$where": "1"}, {"$": ""}])
def test_a_config_key_starting_with_a_dollar_is_a_422_that_changes_nothing(api, headers):
    hook = {"url": "https://hooks.example.com/in"}
    form = api.create_form("F", [{"name": "email", "type": "email"}])
    step = {"name": "hook", "plugin_id": "webhook", "config": {**hook, "headers": headers}}
    resp = api.post("/api/workflows", {"name": "W", "trigger": {"type": "manual"}, "steps": [step]})
    assert resp.status_code == 422, resp.status_code
    assert api.get("/api/workflows").json["items"] == []
    resp = api.post(f"/api/forms/{form['id']}/plugins", {"plugin_id": "webhook", "config": step["config"]})
    assert resp.status_code == 422, resp.status_code

    wf = create_workflow(api, {"type": "manual"}, [{**step, "config": hook}])
    resp = api.patch(f"/api/workflows/{wf['id']}", {"steps": [step]})
    assert resp.status_code == 422, resp.status_code
    assert api.get(f"/api/workflows/{wf['id']}").json["steps"][0]["config"]["headers"] == {}
    made = api.add_plugin(form["id"], "webhook", hook)
    resp = api.patch(f"/api/plugin-configs/{made['id']}", {"config": step["config"]})
    assert resp.status_code == 422, resp.status_code
    assert api.get(f"/api/plugin-configs/{made['id']}").json["config"]["headers"] == {}


def test_config_keys_with_dots_are_stored_as_given(api):
    headers = {"x.trace.id": "1", "a.b": "2"}
    step = {
        "name": "hook",
        "plugin_id": "webhook",
        "config": {"url": "https://h.example.com/", "headers": headers},
    }
    wf = create_workflow(api, {"type": "manual"}, [step])
    assert api.get(f"/api/workflows/{wf['id']}").json["steps"][0]["config"]["headers"] == headers
    changed = {"a.b": "3", "c.d": "4"}
    step["config"]["headers"] = changed
    assert api.patch(f"/api/workflows/{wf['id']}", {"steps": [step]}).status_code == 200
    assert api.get(f"/api/workflows/{wf['id']}").json["steps"][0]["config"]["headers"] == changed


HOOK = [{"name": "hook", "plugin_id": "webhook", "config": {"url": "https://hooks.example.com/in"}}]


@pytest.mark.parametrize("cron", ["0 0 30 2 *", "0 0 31 4 *", "15 10 31 6,9,11 *", "0 0 0 30 2 *"])
def test_a_schedule_that_is_never_due_is_a_422_at_save(api, cron):
    resp = api.post(
        "/api/workflows", {"name": "W", "trigger": {"type": "schedule", "cron": cron}, "steps": HOOK}
    )
    assert resp.status_code == 422, resp.json
    assert "never due" in resp.json["error"]["details"]["trigger.cron"][0]
    wf = create_workflow(api, {"type": "schedule", "cron": "0 8 * * *"}, HOOK)
    resp = api.patch(f"/api/workflows/{wf['id']}", {"trigger": {"type": "schedule", "cron": cron}})
    assert resp.status_code == 422, resp.json
    assert api.get(f"/api/workflows/{wf['id']}").json["trigger"]["cron"] == "0 8 * * *"


def test_a_stored_schedule_with_no_due_time_left_is_not_worked_out_again_on_every_pass(app, api, monkeypatch):
    from app.engine import workflow_schedule
    from app.models import Workflow

    wf = create_workflow(api, {"type": "schedule", "cron": "0 8 * * *"}, HOOK)
    Workflow._get_collection().update_one(
        {"_id": Workflow.objects.get(id=wf["id"]).id}, {"$set": {"trigger.cron": "0 0 30 2 *"}}
    )
    worked_out = []
    real = workflow_schedule.next_fire
    monkeypatch.setattr(workflow_schedule, "next_fire", lambda *a: worked_out.append(1) or real(*a))
    for _ in range(3):
        assert workflow_schedule.fire_due(app) == 0
    assert (
        len(worked_out) == 1
    )  # (each pass cost 85 ms a workflow before: a workspace could stall the scheduler)


@pytest.mark.parametrize("fault", ["payload", "timezone"])
def test_a_due_time_that_fails_for_its_own_reason_is_logged_once_not_on_every_pass(app, api, monkeypatch, caplog, fault):
    """(It stayed due: every pass, each few seconds, tried it again and logged its traceback again.)"""
    import datetime as dt

    from app.engine import workflow_schedule
    from app.models import Workflow

    wf = create_workflow(api, {"type": "schedule", "cron": "*/5 * * * *"}, HOOK)
    now = dt.datetime.now(dt.UTC)
    workflow_schedule.fire_due(app, now)  # works out its next due time
    due = Workflow.objects.get(id=wf["id"]).next_fire_at["at"]
    if fault == "payload":
        monkeypatch.setattr(workflow_schedule, "trigger_payload", lambda *a: 1 / 0)
    else:  # stored past the API's checks
        Workflow._get_collection().update_one(
            {"_id": Workflow.objects.get(id=wf["id"]).id}, {"$set": {"trigger.timezone": "Mars/Olympus"}}
        )
    later = dt.datetime.fromtimestamp(due + 1, dt.UTC)
    started = [workflow_schedule.fire_due(app, later) for _ in range(3)]
    assert started[1:] == [0, 0]  # (a due time whose next one cannot be worked out still ran once)
    assert len([r for r in caplog.records if str(wf["id"]) in r.getMessage()]) == 1
    assert WorkflowRun.objects(workflow_id=wf["id"]).count() == started[0]


@pytest.mark.parametrize("zone", ["", None])
def test_an_empty_time_zone_is_utc(api, zone):
    trigger = {"type": "schedule", "cron": "0 8 * * *"} | ({"timezone": zone} if zone is not None else {})
    assert create_workflow(api, trigger, HOOK)["trigger"]["timezone"] == "UTC"


def test_a_run_refused_by_the_runs_limit_cannot_be_started_by_a_retry(make_app):
    app = make_app(WORKFLOW_RUNS_PER_MINUTE=2)
    api = Api(app.test_client())
    wf = create_workflow(api, {"type": "manual"}, HOOK)
    for _ in range(2):
        assert api.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).status_code == 202
    refused = []
    for _ in range(2):  # (recorded: within twice the limit)
        resp = api.post(f"/api/workflows/{wf['id']}/run", {"data": {}})
        assert resp.status_code == 429
        refused.append(resp.json["error"]["details"]["run_id"])
    for run_id in refused:
        resp = api.post(f"/api/workflow-runs/{run_id}/retry", {})
        assert resp.status_code == 409, resp.json
        assert "replay" in resp.json["error"]["message"]
        assert api.get(f"/api/workflow-runs/{run_id}").json["status"] == "failed"
    assert PluginJob._get_collection().count_documents({"config_id": f"{wf['id']}:hook"}) == 2
    assert api.post(f"/api/workflow-runs/{refused[0]}/replay", {}).status_code == 429  # (the limit holds)


@pytest.mark.parametrize(
    "header", ["{{ data.email }}", "Total {{ 1/0 }}", "{% if x %}y", '=IMPORTXML(A1, "//a")']
)
def test_a_sheets_column_header_is_never_rendered_only_its_value(make_app, google, header):  # noqa: F811
    app = make_app(GOOGLE_SHEETS_API_URL=google.api_url)
    api = Api(app.test_client())
    step = sheets_step(google)
    step["config"]["extra_columns"] = [{"header": header, "value": '=HYPERLINK("{{ data.email }}")'}]
    wf = create_workflow(api, {"type": "manual"}, [step])
    data = {"email": "ada@example.com"}
    shown = api.post(f"/api/workflows/{wf['id']}/preview", {"step": "record", "data": data}).json
    assert shown["error"] is None and shown["input"]["extra_columns"][0]["header"] == header
    run = api.post(f"/api/workflows/{wf['id']}/run", {"data": data}).json
    for job in JobQueue("me", lease_seconds=30).claim(10):
        run_one(app, job)
    run = finished_run(api, run["id"])  # (its run moves on in a thread)
    assert run["status"] == "succeeded", run
    assert run["steps"][0]["input"]["extra_columns"][0]["header"] == header  # (what was sent)
    header_row, row = google.spreadsheets[SHEET_KEY].sheets[0].values()
    assert (
        row[header_row.index(header)] == '=HYPERLINK("ada@example.com")'
    )  # entered as text, never evaluated


BIG = "{{ 'x' * 60000 }}"  # (within a template's own budget: 64 KiB out)


def _big_hook(count: int) -> list[dict]:
    headers = {f"x-h{i}": BIG for i in range(count)}
    return [
        {
            "name": "hook",
            "plugin_id": "webhook",
            "config": {"url": "https://h.example.com/", "headers": headers},
        }
    ]


@pytest.mark.parametrize("count", [5, 300])
def test_a_step_whose_rendered_config_is_too_large_fails_its_run_saying_so(api, count):
    wf = create_workflow(api, {"type": "manual"}, _big_hook(count))
    resp = api.post(f"/api/workflows/{wf['id']}/run", {"data": {}})
    assert resp.status_code == 202, resp.json  # (300 headers: 18 MB, more than a store document holds: a 500)
    assert resp.json["status"] == "failed" and "over the limit of 262,144" in resp.json["error"]
    assert PluginJob._get_collection().count_documents({}) == 0


def test_a_schedule_whose_step_cannot_be_written_does_not_keep_the_others_from_firing(app, api):
    import datetime as dt

    from app.engine.workflow_schedule import fire_due

    big = create_workflow(api, {"type": "schedule", "cron": "* * * * *"}, _big_hook(300))
    fine = create_workflow(api, {"type": "schedule", "cron": "* * * * *"}, HOOK)
    now = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
    fire_due(app, now)  # (the first look works out the due times)
    assert fire_due(app, now) == 2
    failed = WorkflowRun.objects.get(workflow_id=big["id"])
    assert failed.status == "failed" and "over the limit" in failed.error
    assert WorkflowRun.objects.get(workflow_id=fine["id"]).status == "running"


def test_a_form_event_whose_step_cannot_be_written_still_takes_the_submission(api):
    form = api.create_form("F", [{"name": "email", "type": "email"}])
    wf = create_workflow(api, {"type": "form_event", "form_id": form["id"]}, _big_hook(300))
    resp = api.post(f"/api/forms/{form['id']}/submissions", {"data": {"email": "a@example.com"}})
    assert resp.status_code == 202, resp.json
    [run] = api.get(f"/api/workflows/{wf['id']}/runs").json["items"]
    assert run["status"] == "failed" and "over the limit" in run["error"]


def test_a_run_of_an_archived_workflow_is_not_replayed(api):
    wf = create_workflow(api, {"type": "manual"}, HOOK)
    run = api.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).json
    assert api.patch(f"/api/workflows/{wf['id']}", {"status": "archived"}).status_code == 200
    resp = api.post(f"/api/workflow-runs/{run['id']}/replay", {})
    assert resp.status_code == 409, resp.json
    assert "archived" in resp.json["error"]["message"]
    assert len(api.get(f"/api/workflows/{wf['id']}/runs").json["items"]) == 1


def test_calls_past_twice_the_runs_limit_are_refused_without_a_record(make_app):
    app = make_app(WORKFLOW_RUNS_PER_MINUTE=2)
    api = Api(app.test_client())
    wf = create_workflow(api, {"type": "manual"}, HOOK)
    inbound = create_workflow(api, {"type": "inbound"}, HOOK)
    body = {"big": "x" * 100_000}  # (each refusal recorded kept its body: a store filled at the request rate)
    # (the workspace's own runs and runs others start, here inbound calls, are counted apart)
    for call in (
        lambda: api.post(f"/api/workflows/{wf['id']}/run", {"data": body}),
        lambda: app.test_client().post(inbound["inbound_path"], json=body),
    ):
        answers = [call() for _ in range(6)]
        assert [a.status_code for a in answers] == [202, 202] + [429] * 4
        assert [a.json["error"]["details"]["run_id"] is not None for a in answers[2:]] == [True, True, False, False]
    assert WorkflowRun.objects.count() == 8  # of each kind, two runs and two refusals recorded


@pytest.mark.parametrize("replays", [1, 2])
def test_a_replay_of_a_run_others_started_is_counted_as_the_workspaces_own(make_app, replays):
    """A replay is the workspace's doing, whatever started the run it replays: it neither takes the
    budget of the runs strangers start (their calls then refused) nor is refused because strangers used it."""
    app = make_app(WORKFLOW_RUNS_PER_MINUTE=2)
    api = Api(app.test_client())
    inbound = create_workflow(api, {"type": "inbound"}, HOOK)
    stranger = app.test_client()
    first = stranger.post(inbound["inbound_path"], json={"n": 1})
    assert first.status_code == 202, first.json
    for _ in range(replays):  # the owner's replays: its own runs (none yet this minute)
        resp = api.post(f"/api/workflow-runs/{first.json['id']}/replay", {})
        assert resp.status_code in (200, 202), resp.json
        assert resp.json["status"] == "running", resp.json
    second = stranger.post(inbound["inbound_path"], json={"n": 2})  # others' second run of the minute
    assert second.status_code == 202, second.json
    assert stranger.post(inbound["inbound_path"], json={"n": 3}).status_code == 429  # their third is over
    resp = api.post(f"/api/workflow-runs/{first.json['id']}/replay", {})  # the owner's own budget is its own
    assert resp.status_code == (202 if replays < 2 else 429), resp.json


@pytest.mark.parametrize("row", ["²", "٣", "9" * 5000, "1e3", "-1"])
def test_step_builder_rows_numbered_oddly_are_a_422(api, row):
    steps = {"0": HOOK[0], row: {**HOOK[0], "name": "other"}}
    resp = api.post("/api/workflows", {"name": "W", "trigger": {"type": "manual"}, "steps": steps})
    assert resp.status_code == 422, resp.status_code
    assert api.get("/api/workflows").json["items"] == []
    rows = {"1": {**HOOK[0], "name": "second"}, "0": HOOK[0]}
    wf = api.post("/api/workflows", {"name": "W", "trigger": {"type": "manual"}, "steps": rows}).json
    assert [s["name"] for s in wf["steps"]] == ["hook", "second"]  # (the builder's rows, in row order)


@pytest.mark.parametrize("value", ["a\r\nX-Evil: 1", "a\nb", " leading"])
def test_a_header_rendered_to_what_no_request_can_carry_fails_the_step_at_once(app, api, sink, value):
    step = {
        "name": "hook",
        "plugin_id": "webhook",
        "config": {"url": f"{sink.url}/x", "headers": {"X-A": "{{ data.v }}"}},
    }
    wf = create_workflow(api, {"type": "manual"}, [step])
    run = api.post(f"/api/workflows/{wf['id']}/run", {"data": {"v": value}}).json
    for job in JobQueue("me", lease_seconds=30).claim(10):
        run_one(app, job)
    [job] = PluginJob._get_collection().find({"run_id": run["id"]})
    assert (job["status"], job["attempts"]) == ("failed", 1), job.get(
        "last_error"
    )  # (was retried, to fail again)
    assert "cannot be sent" in job["last_error"] and sink.requests == []


def test_a_schedulers_pass_reads_only_the_schedules_that_are_due_or_changed(app, api, monkeypatch):
    """A workspace with many schedules costs each pass nothing until one is due (each pass read them all)."""
    import datetime as dt

    from app.engine import workflow_schedule
    from app.models import Workflow

    hour = dt.datetime.now(dt.UTC).hour  # two and three hours ahead: the five always fall due before the one
    early, late = f"0 {(hour + 2) % 24} * * *", f"0 {(hour + 3) % 24} * * *"
    ids = [create_workflow(api, {"type": "schedule", "cron": early}, HOOK)["id"] for _ in range(6)]
    real = Workflow._get_collection
    read: list[int] = []

    class Counting:
        def __init__(self, coll):
            self.coll = coll

        def find(self, *args, **kwargs):
            found = list(self.coll.find(*args, **kwargs))
            read.append(len(found))
            return found

        def __getattr__(self, name):
            return getattr(self.coll, name)

    class Workflows:  # what the schedulers' pass sees of the model
        @staticmethod
        def _get_collection():
            return Counting(real())

    monkeypatch.setattr(workflow_schedule, "Workflow", Workflows)
    now = dt.datetime.now(dt.UTC)
    workflow_schedule.fire_due(app, now)  # works out each one's next due time
    workflow_schedule.fire_due(app, now)
    assert read == [6, 6, 0]  # (what is due, then those whole: none the second time)
    api.patch(f"/api/workflows/{ids[0]}", {"trigger": {"type": "schedule", "cron": late}})
    workflow_schedule.fire_due(app, now)
    assert read[-2:] == [1, 1]  # the changed one, for its new due time
    due = sorted(Workflow.objects.get(id=i).next_fire_at["at"] for i in ids)  # five early, one late
    assert workflow_schedule.fire_due(app, dt.datetime.fromtimestamp(due[0] + 1, dt.UTC)) == 5
    assert workflow_schedule.fire_due(app, dt.datetime.fromtimestamp(due[-1] + 1, dt.UTC)) == 1
    assert read[-4:] == [5, 5, 1, 1]
