"""A third attack on workflows (issue 24): another workspace reaching for a workflow's runs or its inbound
URL, a workspace making the shared engine slower, and the promises a user relies on (cancel, retry,
replay, limits). Each finding a test that failed before its fix."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from bson import ObjectId

from app.contract import PluginError
from app.engine import host_steps, workflow_runs
from app.engine.host_steps import save_file
from app.engine.queue import JobQueue
from app.engine.runner import run_one
from app.engine.workflow_runs import runs
from app.models import PluginJob, WorkflowFile, WorkflowRun
from tests.admin_api.conftest import people  # noqa: F401  (a fixture)
from tests.conftest import Api
from tests.support.wait import wait_until
from tests.workflows.conftest import create_workflow
from tests.workflows.test_triggers import HOOK, SECRET, _signed


@pytest.mark.parametrize(
    "signature",
    ["v1,\u00e9t\u00e9", "v1,caf\u00e9 v1,abc", "\u00ff"],
)
def test_an_inbound_signature_header_with_non_ascii_text_is_a_401_not_a_500(app, api, signature):
    wf = create_workflow(api, {"type": "inbound", "secret": SECRET}, HOOK)
    body = b'{"n": 1}'
    headers = {**_signed(body), "webhook-signature": signature}
    resp = app.test_client().post(wf["inbound_path"], data=body, headers=headers)
    assert resp.status_code == 401 and resp.json["error"]["code"] == "bad_signature", resp.data[:300]
    assert WorkflowRun.objects.count() == 0


def _two_hooks(sink) -> list[dict]:
    return [
        {"name": "first", "plugin_id": "webhook", "config": {"url": f"{sink.url}/first"}},
        {"name": "second", "plugin_id": "webhook", "config": {"url": f"{sink.url}/second"}},
    ]


@pytest.mark.parametrize("outcome", ["succeeded", "failed_continue"])
def test_a_run_cancelled_while_its_step_settles_starts_no_next_step(app, api, sink, outcome):
    """The step's settling read the run just before the cancel (the run's threads, or the sweep): the next
    step's job it writes then is cancelled, not sent after the user's cancel."""
    steps = _two_hooks(sink)
    if outcome == "failed_continue":
        steps[0]["on_error"] = "continue"
    wf = create_workflow(api, {"type": "manual"}, steps)
    run_id = api.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).json["id"]
    (job,) = JobQueue("me", lease_seconds=30).claim(10)  # the first step's attempt is under way
    seen = WorkflowRun._get_collection().find_one({"_id": ObjectId(run_id)})  # (as the settling read it)
    assert api.post(f"/api/workflow-runs/{run_id}/cancel").status_code == 200
    runs(app).settled(job, outcome == "succeeded", {}, None if outcome == "succeeded" else "boom", run=seen)
    assert JobQueue("me", lease_seconds=30).claim(10) == []  # nothing of the cancelled run starts
    assert PluginJob.objects(run_id=run_id, step=1, status__in=["pending", "running"]).count() == 0
    assert api.get(f"/api/workflow-runs/{run_id}").json["status"] == "cancelled"


@pytest.mark.parametrize("signed", [False, True])
def test_a_viewer_is_not_shown_the_inbound_url_that_would_let_them_start_runs(app, api, people, signed):  # noqa: F811
    """The inbound URL is a credential that starts runs: a viewer may not start runs (403 on run now), so
    the API does not hand them the URL either; an editor still sees it."""
    trigger = {"type": "inbound", **({"secret": SECRET} if signed else {})}
    wf = create_workflow(api, trigger, HOOK)
    viewer = people.member("v@example.com", {people.default_workspace(): "viewer"}).api
    editor = people.member("e@example.com", {people.default_workspace(): "editor"}).api
    assert viewer.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).status_code == 403
    seen = [viewer.get(f"/api/workflows/{wf['id']}").json, *viewer.get("/api/workflows").json["items"]]
    assert [w["inbound_path"] for w in seen] == [None, None]
    assert [w["inbound_signed"] for w in seen] == [signed, signed]
    assert editor.get(f"/api/workflows/{wf['id']}").json["inbound_path"] == wf["inbound_path"]
    assert wf["inbound_path"].startswith("/hooks/workflows/")


@pytest.mark.parametrize("waiting", [20, 60])
def test_runs_waiting_out_a_delay_cost_the_repair_sweep_nothing_until_their_step_is_due(make_app, waiting):
    """A workspace's runs waiting out a long delay step were each read, with their job, by every sweep pass
    of every process (2,000 runs: 3 s a pass here, 600 a minute for an hour: a pass longer than its
    interval). The sweep now looks at a run once its step is due, and still repairs one left behind."""
    app = make_app(WORKFLOW_RUNS_PER_MINUTE=0)
    api = Api(app.test_client())
    hook = {"url": "http://127.0.0.1:9/x"}
    later = create_workflow(
        api,
        {"type": "manual"},
        [{"name": "wait", "plugin_id": "webhook", "config": hook, "delay_seconds": 3600}],
    )
    now_flow = create_workflow(
        api, {"type": "manual"}, [{"name": "go", "plugin_id": "webhook", "config": hook}]
    )
    delayed = [api.post(f"/api/workflows/{later['id']}/run", {"data": {}}).json["id"] for _ in range(waiting)]
    broken = api.post(f"/api/workflows/{now_flow['id']}/run", {"data": {}}).json["id"]
    jobs = PluginJob._get_collection()
    jobs.delete_many({"run_id": {"$in": [broken, delayed[0]]}})  # a crash after the run, before its job
    WorkflowRun._get_collection().update_many({}, {"$set": {"updated_at": dt.datetime(2026, 1, 1)}})
    engine = runs(app)

    assert engine.sweep(min_age=0) == 1  # only the run whose step is due
    assert jobs.count_documents({"run_id": broken}) == 1  # repaired
    assert jobs.count_documents({"run_id": delayed[0]}) == 0  # not yet due: not looked at

    in_two_hours = time.time() + 7200
    assert engine.sweep(min_age=0, now=in_two_hours) == waiting + 1  # due now: each looked at again
    (repaired,) = jobs.find({"run_id": delayed[0]})
    assert repaired["scheduled_for"] <= time.time() + 3600  # its delay is not waited out a second time


@pytest.mark.parametrize(("succeeded", "seen_before"), [(True, False), (False, False), (True, True)])
def test_a_step_under_way_when_its_run_is_cancelled_shows_what_it_did(app, api, sink, succeeded, seen_before):
    """Cancel lets a running step finish its attempt: its side effect happened, so the run shows it (its
    output, or its error), not a step pending for ever; nothing follows it."""
    wf = create_workflow(api, {"type": "manual"}, _two_hooks(sink))
    run_id = api.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).json["id"]
    (job,) = JobQueue("me", lease_seconds=30).claim(10)
    read = WorkflowRun._get_collection().find_one({"_id": ObjectId(run_id)}) if seen_before else None
    assert api.post(f"/api/workflow-runs/{run_id}/cancel").status_code == 200
    job["attempts"] = 1
    output, error = ({"status_code": 200}, None) if succeeded else ({}, "HTTP 500 from the sink")
    runs(app).settled(job, succeeded, output, error, 0.2, run=read)
    shown = api.get(f"/api/workflow-runs/{run_id}").json
    first, second = shown["steps"]
    assert shown["status"] == "cancelled"
    assert (first["status"], first["output"], first["error"], first["attempts"]) == (
        "succeeded" if succeeded else "failed",
        output,
        error,
        1,
    )
    assert second["status"] == "waiting"
    assert PluginJob.objects(run_id=run_id, step=1, status__in=["pending", "running"]).count() == 0


@pytest.mark.parametrize("flows", [3, 12])
def test_a_submission_starting_many_workflows_counts_the_workspaces_runs_once(api, monkeypatch, flows):
    """Each workflow on a form counted the workspace's runs of the past minute again, in the submission's
    request (a form with many workflows made every submission that many store counts longer)."""

    form = api.create_form("Leads", [{"name": "email", "type": "email"}])
    trigger = {"type": "form_event", "form_id": form["id"]}
    ids = [create_workflow(api, trigger, HOOK)["id"] for _ in range(flows)]
    counts: list[str] = []  # reads of the workspace's runs of the past minute
    real = workflow_runs.recent_usage
    monkeypatch.setattr(workflow_runs, "recent_usage", lambda ws: counts.append(ws) or real(ws))
    api.submit(form["id"], {"email": "ada@example.com"})
    assert len(counts) == 1
    assert sorted(r.workflow_id for r in WorkflowRun.objects) == sorted(ids)  # each started its run


def test_a_submission_starting_more_workflows_than_the_runs_limit_holds_the_limit(make_app):
    """The runs of one submission are written together after the request's checks: each workflow's count
    of the store saw none of them, so one submission started as many runs as the form had workflows."""
    app = make_app(WORKFLOW_RUNS_PER_MINUTE=2)
    api = Api(app.test_client())
    form = api.create_form("Leads", [{"name": "email", "type": "email"}])
    for _ in range(5):
        create_workflow(api, {"type": "form_event", "form_id": form["id"]}, HOOK)
    api.submit(form["id"], {"email": "ada@example.com"})
    statuses = sorted(r.status for r in WorkflowRun.objects)
    assert statuses == ["failed", "failed", "running", "running"]  # two refusals recorded, the fifth not
    assert PluginJob.objects(run_id__ne=None).count() == 2


@pytest.mark.parametrize(
    "revoke",
    [
        [{"type": "inbound", "new_url": True}],
        [{"type": "manual"}, {"type": "inbound"}],
        [{"type": "schedule", "cron": "0 8 * * *"}, {"type": "inbound"}],
    ],
)
def test_a_leaked_inbound_url_can_be_replaced_and_then_starts_nothing(app, api, revoke):
    """An inbound URL that leaked could not be revoked: it was kept for good, even across a change of the
    trigger to another type and back. A new one is asked for with ``new_url``, or by that change."""
    wf = create_workflow(api, {"type": "inbound"}, HOOK)
    leaked = wf["inbound_path"]
    for trigger in revoke:
        resp = api.patch(f"/api/workflows/{wf['id']}", {"trigger": trigger})
        assert resp.status_code == 200, resp.json
    fresh = resp.json["inbound_path"]
    assert fresh.startswith("/hooks/workflows/") and fresh != leaked
    assert "new_url" not in resp.json["trigger"]
    assert app.test_client().post(leaked, json={"a": 1}).status_code == 404
    assert app.test_client().post(fresh, json={"a": 1}).status_code == 202
    assert WorkflowRun.objects.count() == 1


@pytest.mark.parametrize("retries", [1, 2])
def test_a_signed_call_refused_by_the_runs_limit_runs_when_its_sender_retries_it(make_app, retries):
    """A Standard Webhooks sender retries a 429 with the same webhook-id. That id had a failed run recorded
    for the refusal, so the retry was answered 200 with it, and the sender, told it was delivered, dropped
    the event. A retry after the limit now starts the run; one still over it is a 429 again."""
    app = make_app(WORKFLOW_RUNS_PER_MINUTE=1)
    api = Api(app.test_client())
    wf = create_workflow(api, {"type": "inbound", "secret": SECRET}, HOOK)
    client, body = app.test_client(), b'{"order": 7}'
    assert client.post(wf["inbound_path"], data=body, headers=_signed(body, "msg_1")).status_code == 202
    assert client.post(wf["inbound_path"], data=body, headers=_signed(body, "msg_2")).status_code == 429
    for _ in range(retries - 1):  # retried within the minute: still over the limit
        assert client.post(wf["inbound_path"], data=body, headers=_signed(body, "msg_2")).status_code == 429
    past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=2)
    WorkflowRun._get_collection().update_many({}, {"$set": {"created_at": past}})  # a minute later

    again = client.post(wf["inbound_path"], data=body, headers=_signed(body, "msg_2"))
    assert again.status_code == 202, again.json
    assert again.json["status"] == "running" and again.json["trigger"]["data"]["data"] == {"order": 7}
    assert PluginJob.objects(run_id=again.json["id"]).count() == 1
    repeat = client.post(wf["inbound_path"], data=body, headers=_signed(body, "msg_2"))
    assert (repeat.status_code, repeat.json["id"]) == (200, again.json["id"])  # delivered: no second run
    assert WorkflowRun.objects.count() == 2


def _looping_headers(fields: int, loops: int, work: str) -> dict[str, str]:
    """Header values each within one template's budget: ``loops`` iterations of ``work``."""
    body = f"{{% for i in range({loops}) %}}{{% set x = {work} %}}{{% endfor %}}x"
    return {f"X-H{i}": body for i in range(fields)}


@pytest.mark.parametrize("fields", [40, 80])
def test_a_steps_templates_share_one_budget_when_the_run_renders_them(api, fields):
    """Each template of a step had its own budget (0.5 s, 10,000 loop iterations), and a step may hold
    thousands: one step rendered over a 60 KB input held a request, or one of the two threads that move every
    workspace's runs on, for many seconds (40 such headers: 2.5 s here). The step's templates now spend one
    budget: past it the step fails saying so."""
    steps = [
        {
            "name": "hook",
            "plugin_id": "webhook",
            "config": {
                "url": "http://127.0.0.1:9/x",
                "headers": _looping_headers(fields, 1, "data.a|list|sort"),
            },
        }
    ]
    wf = create_workflow(api, {"type": "manual"}, steps)  # (on the small sample, each is quick)
    started = time.monotonic()
    resp = api.post(f"/api/workflows/{wf['id']}/run", {"data": {"a": "x" * 60_000}})
    run = resp.json
    assert resp.status_code == 202, (resp.status_code, str(resp.json)[:300])
    took = time.monotonic() - started
    assert run["status"] == "failed" and "took longer than 0.5 s" in run["error"], run["error"]
    assert took < 3.0 and PluginJob.objects(run_id=run["id"]).count() == 0


@pytest.mark.parametrize("fields", [6, 30])
def test_a_steps_templates_share_one_budget_when_it_is_saved(api, fields):
    """On the save's sample too: a step's templates that together loop past the budget are a 422."""
    config = {"url": "http://127.0.0.1:9/x", "headers": _looping_headers(fields, 2500, "data.email|upper")}
    resp = api.post(
        "/api/workflows",
        {
            "name": "x",
            "trigger": {"type": "manual"},
            "steps": [{"name": "s", "plugin_id": "webhook", "config": config}],
        },
    )
    assert resp.status_code == 422 and "loop iterations" in str(resp.json["error"]["details"]), resp.json
    assert api.get("/api/workflows").json["items"] == []


def test_a_workspaces_step_files_are_capped_and_another_workspace_still_stores_its_own(app, monkeypatch):
    """A report step stores up to 5 MB a run, kept 7 days: 600 runs a minute of one workspace stored 3 GB a
    minute, with nothing to stop it. A workspace's step files now have a cap; over it the step fails."""
    monkeypatch.setattr(host_steps, "WORKSPACE_FILE_BYTES", 10_000)
    first, second = str(ObjectId()), str(ObjectId())
    assert save_file(first, "ws-a", "a.csv", "text/csv", b"x" * 6000)["bytes"] == 6000
    with pytest.raises(PluginError) as refused:
        save_file(second, "ws-a", "b.csv", "text/csv", b"x" * 6000)
    assert refused.value.permanent and "step files" in refused.value.message
    again = save_file(first, "ws-a", "a.csv", "text/csv", b"y" * 7000)  # its retry replaces it
    assert again["bytes"] == 7000
    assert save_file(str(ObjectId()), "ws-b", "b.csv", "text/csv", b"x" * 6000)["bytes"] == 6000
    assert sorted(f["bytes"] for f in WorkflowFile._get_collection().find()) == [6000, 7000]


def test_a_workspace_keeps_at_most_its_count_of_step_files_so_a_save_never_adds_up_millions(app, monkeypatch):
    """The byte cap alone let tiny files pile up: each save adds up the workspace's files (1.5 us a file),
    so a million of them made every save of that workspace hold the store for seconds."""
    monkeypatch.setattr(host_steps, "WORKSPACE_FILES", 3)
    kept = [str(ObjectId()) for _ in range(3)]
    for job_id in kept:
        save_file(job_id, "ws-a", "a.csv", "text/csv", b"x")
    with pytest.raises(PluginError) as refused:
        save_file(str(ObjectId()), "ws-a", "d.csv", "text/csv", b"x")
    assert refused.value.permanent and "3 step files" in refused.value.message
    assert save_file(kept[0], "ws-a", "a.csv", "text/csv", b"yy")["bytes"] == 2  # a retry replaces its own
    assert save_file(str(ObjectId()), "ws-b", "b.csv", "text/csv", b"x")["bytes"] == 1  # another workspace
    assert WorkflowFile._get_collection().count_documents({"workspace_id": "ws-a"}) == 3


def test_a_report_step_over_the_workspaces_file_cap_fails_its_run_saying_so(app, api, monkeypatch):
    monkeypatch.setattr(host_steps, "WORKSPACE_FILE_BYTES", 10)
    form = api.create_form("Leads", [{"name": "email", "type": "email"}])
    api.submit(form["id"], {"email": "ada@example.com"})
    config = {"form_id": form["id"], "since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"}
    wf = create_workflow(
        api, {"type": "manual"}, [{"name": "csv", "plugin_id": "submissions_csv", "config": config}]
    )
    run_id = api.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).json["id"]
    (job,) = JobQueue("me", lease_seconds=30).claim(10)
    assert run_one(app, job)["status"] == "failed"
    run = wait_until(
        lambda: (r := api.get(f"/api/workflow-runs/{run_id}").json)["status"] != "running" and r,
        timeout=5,
        what="the run to fail",
    )
    assert run["status"] == "failed" and "step files" in run["error"]
    assert WorkflowFile.objects.count() == 0


def test_a_run_whose_failed_step_was_sent_again_through_the_jobs_api_can_still_be_retried(app, api, sink):
    """The failed step's job was sent again through the jobs API (a redelivery); a retry of the run then
    found the job waiting and answered 500. It now takes the run up again with that job under way."""
    wf = create_workflow(api, {"type": "manual"}, _two_hooks(sink))
    run_id = api.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).json["id"]
    (job,) = JobQueue("me", lease_seconds=30).claim(10)
    PluginJob._get_collection().update_one({"_id": job["_id"]}, {"$set": {"status": "failed"}})
    runs(app).settled(job, False, {}, "HTTP 500", 0.1)  # (as the runner records a failure for good)
    assert api.get(f"/api/workflow-runs/{run_id}").json["status"] == "failed"
    assert api.post(f"/api/jobs/{job['_id']}/retry").status_code == 200  # the step's job waits again

    resp = api.post(f"/api/workflow-runs/{run_id}/retry")
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "running" and resp.json["steps"][0]["status"] == "pending"
    (again,) = JobQueue("me", lease_seconds=30).claim(10)
    assert again["_id"] == job["_id"]  # the one job of the step, under its one key
    run_one(app, again)
    wait_until(
        lambda: PluginJob.objects(run_id=run_id, step=1).count() == 1, timeout=5, what="the run to move on"
    )


def test_a_run_of_an_archived_workflow_is_not_retried(app, api, sink):
    """An archived workflow does not run (run now and replay are a 409); a retry of one of its runs ran."""
    wf = create_workflow(api, {"type": "manual"}, _two_hooks(sink))
    run_id = api.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).json["id"]
    (job,) = JobQueue("me", lease_seconds=30).claim(10)
    PluginJob._get_collection().update_one({"_id": job["_id"]}, {"$set": {"status": "failed"}})
    runs(app).settled(job, False, {}, "HTTP 500", 0.1)
    assert api.patch(f"/api/workflows/{wf['id']}", {"status": "archived"}).status_code == 200
    resp = api.post(f"/api/workflow-runs/{run_id}/retry")
    assert resp.status_code == 409 and "archived" in resp.json["error"]["message"]
    assert api.get(f"/api/workflow-runs/{run_id}").json["status"] == "failed"
    assert PluginJob.objects.get(id=job["_id"]).status == "failed"


@pytest.mark.parametrize("calls", [3, 6])
def test_a_call_over_the_runs_limit_counts_the_workspaces_runs_once(make_app, monkeypatch, calls):
    """Each refused call (run now, an inbound flood) counted the workspace's last minute of runs twice."""

    app = make_app(WORKFLOW_RUNS_PER_MINUTE=1)
    api = Api(app.test_client())
    wf = create_workflow(api, {"type": "inbound"}, HOOK)
    counts: list[str] = []  # reads of the workspace's runs of the past minute
    real = workflow_runs.recent_usage
    monkeypatch.setattr(workflow_runs, "recent_usage", lambda ws: counts.append(ws) or real(ws))
    codes = [app.test_client().post(wf["inbound_path"], json={"n": i}).status_code for i in range(calls)]
    assert codes == [202] + [429] * (calls - 1)
    assert len(counts) == calls


@pytest.mark.parametrize("key", ["steps.check.output.approved", "steps.check.output"])
def test_an_inbound_body_cannot_stand_in_for_an_earlier_steps_output_in_a_condition(app, api, sink, key):
    """A step's condition reads ``steps.<name>.output.<key>`` beside the trigger's data fields, in one
    namespace: a caller of the inbound URL sending a field of that name decided a condition meant to test
    what the earlier step returned (here a key it never returns)."""
    steps = _two_hooks(sink)
    rule = {"field": key, "op": "equals", "value": "yes"}
    steps[0]["name"] = "check"
    steps[1]["condition"] = {"match": "all", "rules": [rule]}
    wf = create_workflow(api, {"type": "inbound"}, steps)
    run = app.test_client().post(wf["inbound_path"], json={key: "yes", "name": "Bob"}).json
    (job,) = JobQueue("me", lease_seconds=30).claim(10)
    run_one(app, job)
    done = wait_until(
        lambda: (r := api.get(f"/api/workflow-runs/{run['id']}").json)["status"] != "running" and r,
        timeout=5,
        what="the run to end",
    )
    assert [s["status"] for s in done["steps"]] == ["succeeded", "skipped"]
    assert PluginJob.objects(run_id=run["id"], step=1).count() == 0


def test_a_workspaces_slow_steps_do_not_hold_another_workspaces_runs_behind_them(
    app,
    api,
    sink,
    people,  # noqa: F811
    monkeypatch,
):
    """The two threads that move every run on took work first come, first served: a workspace whose steps
    take long to plan (templates near their budget) made every other workspace's next steps wait behind
    all of its own. They now take each workspace's work in turns."""
    real = workflow_runs.rendered

    def rendered(plugin, box, stored, payload):
        if (payload.get("data") or {}).get("slow") and payload.get("steps"):
            time.sleep(0.25)  # (templates near their budget)
        return real(plugin, box, stored, payload)

    monkeypatch.setattr(workflow_runs, "rendered", rendered)
    b = people.member("b@example.com", {people.workspace("B"): "owner"}).api
    heavy = create_workflow(api, {"type": "manual"}, _two_hooks(sink))
    light = create_workflow(b, {"type": "manual"}, _two_hooks(sink))
    heavy_runs = [
        api.post(f"/api/workflows/{heavy['id']}/run", {"data": {"slow": True}}).json["id"] for _ in range(8)
    ]
    light_run = b.post(f"/api/workflows/{light['id']}/run", {"data": {}}).json["id"]
    firsts = {j["run_id"]: j for j in JobQueue("me", lease_seconds=30).claim(20)}
    engine = runs(app)
    for run_id in [*heavy_runs, light_run]:  # the heavy workspace's steps settled first
        engine.settle_later(firsts[run_id], True, {}, None, 0.1)
    wait_until(lambda: PluginJob.objects(run_id=light_run, step=1).count(), timeout=10, what="the light run")
    moved = PluginJob.objects(run_id__in=heavy_runs, step=1).count()
    assert moved <= 3, moved  # (first come, first served: 6 or more)
    wait_until(
        lambda: PluginJob.objects(run_id__in=heavy_runs, step=1).count() == 8,
        timeout=10,
        what="the heavy runs",
    )


def test_the_bytes_a_workspaces_runs_carry_are_bounded_per_minute_counting_each_step(make_app, sink):
    """(One 20-step run of a 1 MB input wrote 20 MB of step jobs, and the runs limit let a workspace start
    600 of them a minute: about 12 GB.) Its runs carry at most WORKFLOW_BYTES_PER_MINUTE."""
    app = make_app(WORKFLOW_BYTES_PER_MINUTE=3 * 1024 * 1024)
    api = Api(app.test_client())
    steps = [{"name": f"s{i}", "plugin_id": "webhook", "config": {"url": f"{sink.url}/{i}"}} for i in range(20)]
    wf = create_workflow(api, {"type": "manual"}, steps)
    big = {"text": "x" * 100_000}  # 100 KB: 2 MB for 20 steps
    assert api.post(f"/api/workflows/{wf['id']}/run", {"data": big}).status_code == 202
    refused = api.post(f"/api/workflows/{wf['id']}/run", {"data": big})
    assert refused.status_code == 429, refused.json
    assert "bytes" in refused.json["error"]["message"]
    recorded = WorkflowRun._get_collection().find_one({"_id": ObjectId(refused.json["error"]["details"]["run_id"])})
    assert recorded["status"] == "failed" and "x" * 1000 not in str(recorded["trigger"])  # (not its data)
    small = api.post(f"/api/workflows/{wf['id']}/run", {"data": {"text": "hi"}})
    assert small.status_code == 202, small.json  # what is left of the minute's bytes still serves
    assert PluginJob._get_collection().count_documents({"run_id": {"$exists": True}}) == 2
