"""Probes of this session's workflow endpoints as an attacker would try them."""

from __future__ import annotations

import pytest

from app.models import Workflow
from app.services import services
from tests.admin_api.conftest import people  # noqa: F401  (a fixture)

TOKEN = "tok-very-secret-123"


def _flow(api, url: str = "https://hooks.example.com/in") -> dict:
    step = {"name": "hook", "plugin_id": "webhook", "config": {"url": url, "auth_token": TOKEN}}
    resp = api.post("/api/workflows", {"name": "A flow", "trigger": {"type": "manual"}, "steps": [step]})
    assert resp.status_code == 201, resp.json
    return resp.json


def _token_of(app, workflow_id: str) -> str | None:
    step = Workflow.objects.get(id=workflow_id).steps[0]
    plugin = services(app).plugins.get("webhook")
    return services(app).secrets.open(plugin.config_schema(), step["config"]).get("auth_token")


@pytest.mark.parametrize(
    "new_url",
    [
        "https://evil.example.net/{{ data.x }}",
        "https://{{ data.host }}/in",
        "{{ data.url }}",
    ],
)
def test_a_masked_secret_does_not_follow_a_step_to_a_templated_url(app, api, new_url):
    wf = _flow(api)
    sent_back = api.get(f"/api/workflows/{wf['id']}").json["steps"]
    assert sent_back[0]["config"]["auth_token"] != TOKEN
    config = {**sent_back[0]["config"], "url": new_url}
    resp = api.patch(f"/api/workflows/{wf['id']}", {"steps": [{**sent_back[0], "config": config}]})
    assert resp.status_code == 422, resp.json
    assert "auth_token" in str(resp.json["error"]["details"])
    assert _token_of(app, wf["id"]) == TOKEN
    assert Workflow.objects.get(id=wf["id"]).steps[0]["config"]["url"] == "https://hooks.example.com/in"


@pytest.mark.parametrize("new_url", ["https://evil.example.net/in", "https://hooks.example.com.evil.net/in"])
def test_a_masked_secret_does_not_follow_a_step_to_a_plain_new_url(app, api, new_url):
    wf = _flow(api)
    step = api.get(f"/api/workflows/{wf['id']}").json["steps"][0]
    resp = api.patch(
        f"/api/workflows/{wf['id']}", {"steps": [{**step, "config": {**step["config"], "url": new_url}}]}
    )
    assert resp.status_code == 422, resp.json
    assert _token_of(app, wf["id"]) == TOKEN


@pytest.mark.parametrize(
    "body",
    [
        {"steps": "x"},
        {"steps": [{"name": "hook", "plugin_id": "webhook", "config": []}]},
        {"steps": [{"name": "hook", "plugin_id": "webhook", "config": {"url": {"a": 1}}}]},
        {"steps": [{"name": ["x"], "plugin_id": 3, "config": {}}]},
        {"trigger": {"type": "form_event", "form_id": "not-an-id"}},
        {"trigger": {"type": "form_event", "form_id": {"$ne": None}}},
        {"name": {"$gt": ""}},
    ],
)
def test_malformed_workflow_patches_are_4xx(app, api, body):
    wf = _flow(api)
    resp = api.patch(f"/api/workflows/{wf['id']}", body)
    assert 400 <= resp.status_code < 500, resp.json
    assert _token_of(app, wf["id"]) == TOKEN


@pytest.mark.parametrize("bad", ["nope", "0" * 24, "{{x}}", "../../x"])
def test_malformed_ids_are_404(api, bad):
    for path in (f"/api/workflows/{bad}", f"/api/workflow-runs/{bad}"):
        assert api.get(path).status_code == 404
    assert api.post(f"/hooks/workflows/{bad}", {"a": 1}).status_code == 404


def test_replay_with_another_workspaces_submissions_sends_nothing(api, people):  # noqa: F811
    form = api.create_form("A form", [{"name": "email", "type": "email"}])
    ws_b = people.workspace("B")
    b = people.member("b@example.com", {ws_b: "owner"})
    resp = b.api.post(
        "/api/replays", {"form_id": form["id"], "statuses": ["failed"], "submission_ids": ["0" * 24]}
    )
    assert resp.status_code == 404, resp.json
    resp = b.api.post(
        "/api/replays", {"workspace_id": ws_b, "statuses": ["failed"], "submission_ids": [{"$ne": None}]}
    )
    assert 400 <= resp.status_code < 500, resp.json


@pytest.mark.parametrize("bad", ["nope", "0" * 24, "%7B%24ne%7D", "a" * 300])
def test_another_or_malformed_id_on_this_sessions_endpoints_is_a_4xx(api, people, bad):  # noqa: F811
    form = api.create_form("A form", [{"name": "email", "type": "email"}])
    ws_b = people.workspace("B")
    b = people.member("b@example.com", {ws_b: "owner"}).api
    for who, ident in ((api, bad), (b, form["id"])):
        for method, path, body in (
            ("post", f"/api/submissions/{ident}/restore", {}),
            ("post", f"/api/submissions/{ident}/purge", {}),
            ("post", f"/api/forms/{ident}/submissions/purge-deleted", {}),
            ("post", f"/api/workspaces/{ident}/erasures", {"email": "a@example.com"}),
            ("get", f"/api/forms/{ident}/summary", None),
            ("post", f"/api/alerts/{ident}/acknowledge", {}),
            ("get", f"/api/workspaces/{ident}/alert-settings", None),
            ("get", f"/admin/forms/{ident}/submissions/rows", None),
            ("get", f"/admin/workflows/{ident}", None),
            ("get", f"/admin/workflow-runs/{ident}", None),
            ("get", f"/admin/submissions/export.xlsx?form_id={ident}", None),
            ("get", f"/api/removals?workspace_id={ident}", None),
        ):
            resp = getattr(who, method)(path, body) if body is not None else who.get(path)
            assert 400 <= resp.status_code < 500, (method, path, resp.status_code)
    assert api.get(f"/api/forms/{form['id']}").status_code == 200


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize("depth", [200, 900])
def test_deeply_nested_run_input_is_not_a_500(api, depth):
    wf = _flow(api)
    resp = api.post(f"/api/workflows/{wf['id']}/run", {"data": _nested(depth)})
    assert resp.status_code < 500, resp.status_code


@pytest.mark.parametrize("data", [{"a\x00b": 1}, {"x": {"\x00": "y"}}, {"x": [{"k\x00": 1}]}])
def test_a_run_input_with_a_nul_in_a_key_is_a_400_that_starts_no_run(app, api, data):
    wf = _flow(api)
    resp = api.post(f"/api/workflows/{wf['id']}/run", {"data": data})
    assert resp.status_code == 400, resp.json
    assert "NUL" in resp.json["error"]["message"]
    assert api.get(f"/api/workflows/{wf['id']}/runs").json["items"] == []


@pytest.mark.parametrize("data", [{"$where": "1"}, {"a.b": 1}, {"x": [{"$set": {"a": 1}}]}, {"": 1}])
def test_a_run_input_with_keys_the_store_treats_specially_is_held_as_given(app, api, data):
    wf = _flow(api)
    resp = api.post(f"/api/workflows/{wf['id']}/run", {"data": data})
    assert resp.status_code == 202, resp.json
    assert resp.json["trigger"]["data"]["data"] == data  # (the answer is the run read back from the store)
