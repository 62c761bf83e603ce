"""Workflows and runs belong to a workspace: another workspace sees 404s, a viewer reads only."""

from __future__ import annotations

import pytest

from app.models import Workflow, WorkflowRun
from app.services import services
from tests.admin_api.conftest import people  # noqa: F401  (a fixture)
from tests.workflows.test_triggers import HOOK


@pytest.fixture
def world(api, people):  # noqa: F811
    ws_a = people.default_workspace()
    wf = api.post("/api/workflows", {"name": "A flow", "trigger": {"type": "manual"}, "steps": HOOK}).json
    run = api.post(f"/api/workflows/{wf['id']}/run", {"data": {"n": 1}}).json
    ws_b = people.workspace("B")
    b = people.member("b@example.com", {ws_b: "owner"})
    viewer = people.member("v@example.com", {ws_a: "viewer"})
    return {"wf": wf, "run": run, "b": b.api, "viewer": viewer.api, "ws_a": ws_a}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/workflows/{wf}"),
        ("patch", "/api/workflows/{wf}"),
        ("post", "/api/workflows/{wf}/run"),
        ("get", "/api/workflows/{wf}/runs"),
        ("get", "/api/workflow-runs/{run}"),
        ("post", "/api/workflow-runs/{run}/retry"),
        ("post", "/api/workflow-runs/{run}/replay"),
        ("post", "/api/workflow-runs/{run}/cancel"),
    ],
)
def test_another_workspace_gets_404_for_a_workflow_and_its_runs(world, method, path):
    url = path.format(wf=world["wf"]["id"], run=world["run"]["id"])
    body = {"name": "stolen"} if method == "patch" else {"data": {}}
    resp = getattr(world["b"], method)(url, body)
    assert resp.status_code == 404, resp.json
    assert Workflow.objects.get(id=world["wf"]["id"]).name == "A flow"
    assert WorkflowRun.objects.count() == 1


def test_another_workspace_lists_none_of_them(world):
    b = world["b"]
    assert b.get("/api/workflows").json["items"] == []
    assert b.get("/api/workflow-runs").json["items"] == []
    assert b.get(f"/api/workflow-runs?workspace_id={world['ws_a']}").status_code == 404


def test_a_form_event_trigger_cannot_name_another_workspaces_form(api, world):
    form = api.create_form("A form", [{"name": "email", "type": "email"}])
    resp = world["b"].post(
        "/api/workflows", {"name": "x", "trigger": {"type": "form_event", "form_id": form["id"]}}
    )
    assert resp.status_code == 422 and "trigger.form_id" in resp.json["error"]["details"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/workflows"),
        ("patch", "/api/workflows/{wf}"),
        ("post", "/api/workflows/{wf}/run"),
        ("post", "/api/workflow-runs/{run}/replay"),
        ("post", "/api/workflow-runs/{run}/cancel"),
    ],
)
def test_a_viewer_reads_but_changes_nothing(world, method, path):
    v = world["viewer"]
    assert v.get(f"/api/workflows/{world['wf']['id']}").status_code == 200
    assert v.get(f"/api/workflow-runs/{world['run']['id']}").status_code == 200
    url = path.format(wf=world["wf"]["id"], run=world["run"]["id"])
    body = {"name": "x", "trigger": {"type": "manual"}} if path == "/api/workflows" else {"data": {}}
    assert getattr(v, method)(url, body).status_code == 403
    assert (Workflow.objects.count(), WorkflowRun.objects.count()) == (1, 1)


def test_a_workflow_shows_no_secret_and_keeps_it_when_sent_back_masked(app, api):
    steps = [
        {
            "name": "hook",
            "plugin_id": "webhook",
            "config": {"url": "http://127.0.0.1:9/x", "secret": "whsec_c2VjcmV0"},
        }
    ]
    wf = api.post(
        "/api/workflows",
        {"name": "x", "trigger": {"type": "inbound", "secret": "whsec_c2VjcmV0"}, "steps": steps},
    ).json
    shown = api.get(f"/api/workflows/{wf['id']}").get_data(as_text=True)
    assert "whsec_c2VjcmV0" not in shown and "c2VjcmV0" not in shown
    stored = Workflow.objects.get(id=wf["id"])
    assert (
        stored.steps[0]["config"]["secret"] != "whsec_c2VjcmV0" and stored.inbound_secret != "whsec_c2VjcmV0"
    )
    kept = api.patch(
        f"/api/workflows/{wf['id']}",
        {"steps": [{**steps[0], "config": {"url": "http://127.0.0.1:9/x", "secret": "********"}}]},
    )
    assert kept.status_code == 200
    box = services(app).secrets
    assert box.decrypt(Workflow.objects.get(id=wf["id"]).steps[0]["config"]["secret"]) == "whsec_c2VjcmV0"
