"""A workflow's steps run as jobs, one after the other, each with the earlier steps' output."""

from __future__ import annotations

from tests.support.wait import wait_until
from tests.workflows.conftest import FIELDS, create_workflow, finished_run, runs_of, three_steps


def test_three_steps_pass_the_contact_id_along_and_each_side_effect_happens_once(
    hubspot, slack, sink, live_api_with
):
    api = live_api_with(SLACK_API_URL=slack.api_url, HUBSPOT_API_URL=hubspot.api_url)
    form = api.create_form("Leads", FIELDS)
    wf = create_workflow(
        api, {"type": "form_event", "form_id": form["id"]}, three_steps(hubspot, sink.url)
    )
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


def test_a_step_whose_condition_does_not_match_is_skipped_and_the_run_goes_on(hubspot, slack, sink, live_api_with):
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
    assert (run["status"], [s["status"] for s in run["steps"]]) == ("failed", ["succeeded", "failed", "waiting"])
    assert "notify" in run["error"] and sink.requests == []

    slack.channels["C0000001"].name = "nowhere"  # the channel exists now
    assert api.post(f"/api/workflow-runs/{run['id']}/retry").status_code == 200
    run = finished_run(api, run["id"])
    assert run["status"] == "succeeded", run
    assert (len(hubspot.contacts), len(slack.posts), len(sink.requests)) == (1, 1, 1)
