"""A workflow's steps run as jobs, one after the other, each with the earlier steps' output."""

from __future__ import annotations

import time

import pytest
from pymongo.collection import Collection

from app.engine.workflow_runs import Runs, runs
from app.models import PluginJob
from tests.conftest import Api
from tests.support.wait import wait_until
from tests.workflows.conftest import (
    FIELDS,
    SHEET_KEY,
    create_workflow,
    finished_run,
    runs_of,
    sheets_step,
    three_steps,
)


def test_three_steps_pass_the_contact_id_along_and_each_side_effect_happens_once(
    hubspot, slack, sink, live_api_with
):
    api = live_api_with(SLACK_API_URL=slack.api_url, HUBSPOT_API_URL=hubspot.api_url)
    form = api.create_form("Leads", FIELDS)
    wf = create_workflow(api, {"type": "form_event", "form_id": form["id"]}, three_steps(hubspot, sink.url))
    api.submit(form["id"], {"email": "ada@example.com", "name": "Ada"})

    [run] = wait_until(lambda: runs_of(api, wf["id"]), what="the run")
    run = finished_run(api, run["id"])
    [contact_id] = hubspot.contacts
    assert run["status"] == "succeeded", run
    assert [s["status"] for s in run["steps"]] == ["succeeded"] * 3
    assert run["steps"][0]["output"]["id"] == contact_id
    assert [p["text"] for p in slack.posts] == [f"New lead ada@example.com: contact {contact_id}"]
    [delivery] = sink.requests
    assert delivery.query == {"contact": contact_id}
    assert delivery.headers["webhook-id"] == f"run:{run['id']}:2"
    assert run["steps"][2]["input"]["url"].endswith(f"/leads?contact={contact_id}")
    assert run["steps"][1]["input"]["token"] == "********"  # secrets are never shown


def test_hubspot_then_slack_then_a_sheets_row_with_the_contact_id_each_once_also_when_redelivered(
    hubspot, slack, google, live_api_with
):
    api = live_api_with(
        SLACK_API_URL=slack.api_url, HUBSPOT_API_URL=hubspot.api_url, GOOGLE_SHEETS_API_URL=google.api_url
    )
    form = api.create_form("Leads", FIELDS)
    steps = [*three_steps(hubspot, "http://unused.invalid")[:2], sheets_step(google)]
    wf = create_workflow(api, {"type": "form_event", "form_id": form["id"]}, steps)
    sub = api.submit(form["id"], {"email": "ada@example.com", "name": "Ada"})

    [run] = wait_until(lambda: runs_of(api, wf["id"]), what="the run")
    run = finished_run(api, run["id"])
    [contact_id] = hubspot.contacts
    assert run["status"] == "succeeded", run
    assert [p["text"] for p in slack.posts] == [f"New lead ada@example.com: contact {contact_id}"]
    sheet = google.spreadsheets[SHEET_KEY].sheets[0]
    header, row = sheet.values()
    assert header == ["Submission ID", "Submitted at", "Email", "Contact"]
    assert (row[0], row[2:], bool(row[1])) == (sub["id"], ["ada@example.com", contact_id], True)
    shown = run["steps"][2]["input"]
    assert shown["extra_columns"] == [{"header": "Contact", "value": contact_id}]  # as rendered for the run
    assert shown["service_account_json"] == "********"

    # The Sheets step delivered again (a resend, as after a crash before it was marked done): the same row.
    [job] = PluginJob.objects(run_id=run["id"], step=2)
    assert api.post(f"/api/jobs/{job.id}/retry").status_code == 200
    assert wait_until(lambda: len(api.job(str(job.id))["logs"]) == 2, what="the redelivery")
    assert wait_until(lambda: api.job(str(job.id))["status"] == "completed", what="the redelivery to end")
    assert len(sheet.values()) == 2 and sheet.values()[1][3] == contact_id
    assert (len(hubspot.contacts), len(slack.posts)) == (1, 1)


def test_runs_by_hand_add_a_sheets_row_each_keyed_by_the_step_and_a_redelivery_adds_none(
    google, live_api_with
):
    api = live_api_with(GOOGLE_SHEETS_API_URL=google.api_url)
    step = sheets_step(google)
    step["config"] |= {"columns": [], "extra_columns": [{"header": "Lead", "value": "{{ data.email }}"}]}
    wf = create_workflow(api, {"type": "manual"}, [step])
    emails = ["ada@example.com", "bob@example.com", "=cmd|' /C calc'!A0"]
    ids = [api.post(f"/api/workflows/{wf['id']}/run", {"data": {"email": e}}).json["id"] for e in emails]
    finished = [finished_run(api, run_id) for run_id in ids]
    assert [run["status"] for run in finished] == ["succeeded"] * 3, finished

    [job] = PluginJob.objects(run_id=ids[0], step=0)
    assert api.post(f"/api/jobs/{job.id}/retry").status_code == 200
    assert wait_until(lambda: len(api.job(str(job.id))["logs"]) == 2, what="the redelivery")
    assert wait_until(lambda: api.job(str(job.id))["status"] == "completed", what="the redelivery to end")
    sheet = google.spreadsheets[SHEET_KEY].sheets[0]
    assert sheet.values()[0] == ["Submission ID", "Submitted at", "email", "Lead"]  # every input field too
    assert sorted((row[0], row[-1]) for row in sheet.values()[1:]) == sorted(
        (f"run:{run_id}:0", email) for run_id, email in zip(ids, emails, strict=True)
    )  # one row a run, the formula-like value kept as text


def test_a_step_whose_condition_does_not_match_is_skipped_and_the_run_goes_on(
    hubspot, slack, sink, live_api_with
):
    api = live_api_with(SLACK_API_URL=slack.api_url, HUBSPOT_API_URL=hubspot.api_url)
    form = api.create_form("Leads", FIELDS)
    steps = three_steps(hubspot, sink.url)
    steps[1]["condition"] = {"match": "all", "rules": [{"field": "name", "op": "equals", "value": "Bob"}]}
    wf = create_workflow(api, {"type": "form_event", "form_id": form["id"]}, steps)
    api.submit(form["id"], {"email": "ada@example.com", "name": "Ada"})

    [run] = wait_until(lambda: runs_of(api, wf["id"]), what="the run")
    run = finished_run(api, run["id"])
    assert [s["status"] for s in run["steps"]] == ["succeeded", "skipped", "succeeded"]
    assert slack.posts == []
    assert len(sink.requests) == 1


def test_a_failed_step_stops_the_run_and_a_retry_goes_on_from_it(hubspot, slack, sink, live_api_with):
    api = live_api_with(SLACK_API_URL=slack.api_url, HUBSPOT_API_URL=hubspot.api_url)
    form = api.create_form("Leads", FIELDS)
    steps = three_steps(hubspot, sink.url)
    steps[1]["config"]["channel"] = "#nowhere"  # Slack answers channel_not_found: a permanent failure
    wf = create_workflow(api, {"type": "form_event", "form_id": form["id"]}, steps)
    api.submit(form["id"], {"email": "ada@example.com", "name": "Ada"})

    [run] = wait_until(lambda: runs_of(api, wf["id"]), what="the run")
    run = finished_run(api, run["id"])
    assert (run["status"], [s["status"] for s in run["steps"]]) == (
        "failed",
        ["succeeded", "failed", "waiting"],
    )
    assert "notify" in run["error"] and sink.requests == []

    slack.channels["C0000001"].name = "nowhere"  # the channel exists now
    assert api.post(f"/api/workflow-runs/{run['id']}/retry").status_code == 200
    run = finished_run(api, run["id"])
    assert run["status"] == "succeeded", run
    assert (len(hubspot.contacts), len(slack.posts), len(sink.requests)) == (1, 1, 1)


@pytest.mark.parametrize("crash", ["before_the_run_hears", "before_the_next_job", "after_the_next_job"])
def test_a_crash_between_a_step_settling_and_the_next_job_is_repaired_by_the_sweep_once(
    crash, hubspot, slack, sink, live_api_with, monkeypatch
):
    """The process dies after step 0's job is written completed: before its run hears of it, before the
    next step's job is written, or after it but before the run's record: the sweep moves the run on,
    writing each next job once."""
    real_settled, real_write_job = Runs.settled, Runs._write_job
    crashed: list[str] = []

    def settled(self, job, *args, **kwargs):
        if crash == "before_the_run_hears" and not crashed:
            crashed.append(job["run_id"])
            raise RuntimeError("the process died here")
        return real_settled(self, job, *args, **kwargs)

    def write_job(self, job):
        if crash == "before_the_run_hears" or crashed or job["step"] != 1:
            return real_write_job(self, job)
        if crash == "after_the_next_job":
            real_write_job(self, job)
        crashed.append(job["run_id"])
        raise RuntimeError("the process died here")

    monkeypatch.setattr(Runs, "settled", settled)
    monkeypatch.setattr(Runs, "_write_job", write_job)
    api = live_api_with(SLACK_API_URL=slack.api_url, HUBSPOT_API_URL=hubspot.api_url)
    form = api.create_form("Leads", FIELDS)
    wf = create_workflow(api, {"type": "form_event", "form_id": form["id"]}, three_steps(hubspot, sink.url))
    api.submit(form["id"], {"email": "ada@example.com", "name": "Ada"})

    [run] = wait_until(lambda: runs_of(api, wf["id"]), what="the run")
    run = finished_run(api, run["id"])
    assert crashed == [run["id"]]
    assert run["status"] == "succeeded", run
    assert (len(hubspot.contacts), len(slack.posts), len(sink.requests)) == (1, 1, 1)
    assert PluginJob.objects(run_id=run["id"]).count() == 3


def test_moving_a_run_on_twice_writes_the_next_job_once(hubspot, sink, make_app):
    """The runner's callback and the sweep may both move a run on after the same step: one next job."""
    app = make_app(HUBSPOT_API_URL=hubspot.api_url)
    api = Api(app.test_client())
    steps = three_steps(hubspot, sink.url)
    wf = create_workflow(api, {"type": "manual"}, [steps[0], steps[2]])
    run = api.post(f"/api/workflows/{wf['id']}/run", {"data": {"email": "ada@example.com"}}).json
    job = PluginJob._get_collection().find_one({"run_id": run["id"], "step": 0})
    engine = runs(app)
    with app.app_context():
        for _ in range(3):
            engine.settled(job, True, {"id": "101"}, None, 0.01)
        engine.sweep(min_age=0)
    [second] = PluginJob._get_collection().find({"run_id": run["id"], "step": 1})
    assert second["step_config"]["url"].endswith("/leads?contact=101")
    detail = api.get(f"/api/workflow-runs/{run['id']}").json
    assert [s["status"] for s in detail["steps"]] == ["succeeded", "pending"]
    assert detail["steps"][0]["output"] == {"id": "101"}


def test_a_run_keeps_the_steps_it_started_with_when_the_workflow_is_edited(hubspot, sink, make_app):
    app = make_app()
    api = Api(app.test_client())
    wf = create_workflow(api, {"type": "manual"}, three_steps(hubspot, sink.url)[2:])
    run = api.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).json
    edited = api.patch(f"/api/workflows/{wf['id']}", {"steps": []})
    assert (edited.status_code, edited.json["version"]) == (200, 2)
    detail = api.get(f"/api/workflow-runs/{run['id']}").json
    assert (detail["version"], [s["name"] for s in detail["steps"]]) == (1, ["record"])
    later = api.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).json
    assert (later["version"], later["steps"], later["status"]) == (2, [], "succeeded")


def test_cancelling_a_run_cancels_its_waiting_step_and_nothing_follows(hubspot, sink, make_app):
    app = make_app()  # no scheduler: the first step's job waits
    api = Api(app.test_client())
    wf = create_workflow(api, {"type": "manual"}, three_steps(hubspot, sink.url)[2:])
    run = api.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).json
    cancelled = api.post(f"/api/workflow-runs/{run['id']}/cancel")
    assert cancelled.status_code == 200
    assert (cancelled.json["status"], cancelled.json["steps"][0]["status"]) == ("cancelled", "cancelled")
    assert PluginJob.objects.get(run_id=run["id"]).status == "cancelled"
    again = api.post(f"/api/workflow-runs/{run['id']}/cancel")
    assert again.status_code == 409 and "cancelled" in again.json["error"]["message"]
    assert api.post(f"/api/workflow-runs/{run['id']}/retry").status_code == 409


@pytest.mark.parametrize("runs_started", [1, 5])
def test_runs_started_by_hand_go_through_every_step_on_the_scheduler(sink, make_app, runs_started):
    app = make_app(SCHEDULER_ENABLED=True)
    api = Api(app.test_client())
    steps = [
        {"name": f"s{i}", "plugin_id": "webhook", "config": {"url": f"{sink.url}/s{i}?n={{{{ data.n }}}}"}}
        for i in range(3)
    ]
    wf = create_workflow(api, {"type": "manual"}, steps)
    ids = [
        api.post(f"/api/workflows/{wf['id']}/run", {"data": {"n": n}}).json["id"] for n in range(runs_started)
    ]
    for run_id in ids:
        assert finished_run(api, run_id)["status"] == "succeeded"
    assert sorted((r.path, r.query["n"]) for r in sink.requests) == sorted(
        (f"/s{i}", str(n)) for i in range(3) for n in range(runs_started)
    )


def test_a_step_previews_what_it_would_send_for_sample_data_without_sending(api, sink):
    steps = three_steps(None, sink.url)[1:]  # (no HubSpot step: its output is given as a sample)
    wf = create_workflow(api, {"type": "manual"}, steps)
    sample = {"step": "notify", "data": {"email": "ada@example.com"}, "outputs": {"contact": {"id": "77"}}}
    shown = api.post(f"/api/workflows/{wf['id']}/preview", sample).json
    assert (
        shown["error"] is None
        and shown["preview"]["message"]["text"] == "New lead ada@example.com: contact 77"
    )
    assert shown["input"]["token"] == "********"
    record = api.post(f"/api/workflows/{wf['id']}/preview", {**sample, "step": "record"}).json
    assert record["input"]["url"].endswith("/leads?contact=77") and sink.requests == []
    missing = api.post(f"/api/workflows/{wf['id']}/preview", {**sample, "step": "nope"})
    assert missing.status_code == 422


@pytest.mark.parametrize("delay", [0, 2, 3600])
def test_a_steps_delay_makes_its_job_due_that_long_after_the_step_before(sink, make_app, delay):
    app = make_app()
    api = Api(app.test_client())
    steps = [
        {"name": "first", "plugin_id": "webhook", "config": {"url": f"{sink.url}/a"}},
        {"name": "later", "plugin_id": "webhook", "config": {"url": f"{sink.url}/b"}, "delay_seconds": delay},
    ]
    wf = create_workflow(api, {"type": "manual"}, steps)
    run = api.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).json
    job = PluginJob._get_collection().find_one({"run_id": run["id"], "step": 0})
    before = time.time()
    runs(app).settled(job, True, {}, None, 0.01)
    nxt = PluginJob._get_collection().find_one({"run_id": run["id"], "step": 1})
    assert before + delay - 1 <= nxt["scheduled_for"] <= time.time() + delay
    assert nxt["status"] == "pending"


def test_a_delay_past_seven_days_is_a_422(api):
    step = {
        "name": "a",
        "plugin_id": "webhook",
        "config": {"url": "http://x.test/"},
        "delay_seconds": 7 * 86400 + 1,
    }
    resp = api.post("/api/workflows", {"name": "x", "trigger": {"type": "manual"}, "steps": [step]})
    assert resp.status_code == 422 and "steps" in resp.json["error"]["details"]


def test_submissions_read_the_workflows_once_per_cache_period_not_once_each(make_app, monkeypatch):
    api = Api(make_app(FORM_CACHE_SECONDS=60).test_client())
    form = api.create_form("Leads", FIELDS)
    reads: list[dict] = []
    real_find = Collection.find

    def find(self, *args, **kwargs):
        if self.name == "workflows":
            reads.append(args[0] if args else {})
        return real_find(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "find", find)
    for n in range(5):
        api.submit(form["id"], {"email": f"a{n}@example.com"})
    assert len(reads) <= 1
