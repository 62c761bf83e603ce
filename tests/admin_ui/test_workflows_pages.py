"""The workflow pages: list, editor with the step builder, a run's steps; writes through the API."""

from __future__ import annotations

from tests.admin_api.conftest import People
from tests.workflows.conftest import create_workflow

HOOK = [
    {
        "name": "hook",
        "plugin_id": "webhook",
        "config": {"url": "http://127.0.0.1:9/x", "secret": "whsec_c2VjcmV0"},
    }
]


def _csrf(client) -> dict[str, str]:
    return {"X-CSRFToken": client.get("/api/auth/me").json["csrf_token"]}


def test_the_pages_show_a_workflow_its_runs_and_each_steps_input_without_secrets(api, owner):
    wf = create_workflow(api, {"type": "manual"}, HOOK)
    run = api.post(f"/api/workflows/{wf['id']}/run", {"data": {"email": "ada@example.com"}}).json
    listed = owner.get("/admin/workflows").get_data(as_text=True)
    assert "Lead flow" in listed and f"/admin/workflows/{wf['id']}" in listed
    page = owner.get(f"/admin/workflows/{wf['id']}").get_data(as_text=True)
    assert f"/admin/workflow-runs/{run['id']}" in page and 'data-name="steps.0.config"' in page
    assert "c2VjcmV0" not in page and "********" in page
    detail = owner.get(f"/admin/workflow-runs/{run['id']}").get_data(as_text=True)
    assert "ada@example.com" in detail and "c2VjcmV0" not in detail and "Replay" in detail


def test_the_step_builder_rows_save_as_steps_in_order_leaving_empty_rows_out(api, owner):
    wf = create_workflow(api, {"type": "manual"}, HOOK)
    rows = {
        "0": {
            "name": "first",
            "plugin_id": "webhook",
            "config": {"url": "http://127.0.0.1:9/a"},
            "on_error": "stop",
        },
        "1": {"on_error": "stop", "retries": 0},
        "2": {
            "name": "second",
            "plugin_id": "webhook",
            "config": {"url": "http://127.0.0.1:9/b"},
            "on_error": "retry",
            "retries": 3,
        },
    }
    resp = owner.patch(f"/api/workflows/{wf['id']}", json={"steps": rows}, headers=_csrf(owner))
    assert resp.status_code == 200, resp.json
    assert [(s["name"], s["on_error"], s["retries"]) for s in resp.json["steps"]] == [
        ("first", "stop", 0),
        ("second", "retry", 3),
    ]


def test_another_workspaces_workflow_pages_are_404(api, owner, app):
    people = People(app)
    b = people.member("b@example.com", {people.workspace("B"): "owner"})
    wf = create_workflow(b.api, {"type": "manual"}, HOOK)
    run = b.api.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).json
    assert owner.get(f"/admin/workflows/{wf['id']}").status_code == 404
    assert owner.get(f"/admin/workflow-runs/{run['id']}").status_code == 404
    assert wf["id"] not in owner.get("/admin/workflows").get_data(as_text=True)


def test_the_editor_says_until_when_a_replaced_inbound_secret_is_accepted(api, owner):
    wf = create_workflow(api, {"type": "inbound", "secret": "whsec_b2xkLXNlY3JldA=="}, HOOK)
    assert "is accepted too until" not in owner.get(f"/admin/workflows/{wf['id']}").get_data(as_text=True)
    new = {"trigger": {"type": "inbound", "secret": "whsec_bmV3LXNlY3JldA=="}}
    until = api.patch(f"/api/workflows/{wf['id']}", new).json["inbound_previous_secret_until"]
    page = owner.get(f"/admin/workflows/{wf['id']}").get_data(as_text=True)
    assert f'is accepted too until <time datetime="{until}"' in page
    assert "b2xkLXNlY3JldA" not in page and "bmV3LXNlY3JldA" not in page
