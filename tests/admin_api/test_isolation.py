"""Isolation: every API endpoint answers 404 for objects of a workspace the caller is not in, and 403 to a
viewer's writes. The app's URL map is walked, so a new endpoint cannot escape these checks."""

from __future__ import annotations

import json

import pytest

from app.models import Alert, PluginExecutionLog
from tests.admin_api.conftest import login

PUBLIC = {
    "api.create_submission",
    "api.login",
    "api.openapi_json",
    "api.api_docs",
    "api.get_invitation",
    "api.accept_invitation",
}
GLOBAL = {
    "plugin_id",
    "fmt",
    "name",
}  # the plugin catalogue and its icons are the same for everyone; export formats too
OWNER_READS = {"api.list_invitations"}  # who was invited is for owners only
WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}


@pytest.fixture
def world(app, api, people):
    """Workspace A (the first owner's) with one of everything; B, an outsider; V, a viewer of A."""
    ws_a = people.default_workspace()
    form = api.create_form("A form", [{"name": "email", "type": "email"}])
    config = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/hook"})
    sub = api.submit(form["id"], {"email": "a@example.com"})
    token = api.post("/api/tokens", {"name": "A's token"}).json
    invitation = api.post(
        f"/api/workspaces/{ws_a}/invitations", {"email": "i@example.com", "role": "viewer"}
    ).json
    owner_id = api.get("/api/auth/me").json["user"]["id"]
    job_id = sub["jobs"][0]
    log = PluginExecutionLog(
        job_id=job_id, config_id=config["id"], form_id=form["id"], workspace_id=ws_a, attempt=1
    ).save()
    alert = Alert(
        workspace_id=ws_a, config_id=config["id"], kind="disabled", title="t", message="m", dedup_key="iso"
    ).save()
    flow = api.post(
        "/api/workflows",
        {
            "name": "A flow",
            "trigger": {"type": "manual"},
            "steps": [{"name": "hook", "plugin_id": "webhook", "config": {"url": "http://127.0.0.1:9/hook"}}],
        },
    ).json
    ids = {
        "alert_id": str(alert.id),
        "workflow_id": flow["id"],
        "run_id": api.post(f"/api/workflows/{flow['id']}/run", {"data": {}}).json["id"],
        "form_id": form["id"],
        "submission_id": sub["id"],
        "config_id": config["id"],
        "job_id": job_id,
        "workspace_id": ws_a,
        "user_id": owner_id,
        "token_id": token["id"],
        "plugin_id": "webhook",
        "op_id": api.post("/api/replays", {"form_id": form["id"], "statuses": ["failed"]}).json["id"],
        "fmt": "csv",
        "name": "webhook",
        "invitation_id": invitation["id"],
        "token": invitation["link"].rsplit("/", 1)[1],
    }
    outsider = people.member("b@example.com", {people.workspace("B"): "owner"})
    viewer = people.member("v@example.com", {ws_a: "viewer"})
    return {"ids": ids, "log_id": str(log.id), "outsider": outsider, "viewer": viewer}


def api_routes(app):
    """(endpoint, method, rule) of every API route, public ones included."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, rule


def url_for_rule(rule, ids: dict[str, str]) -> str:
    unknown = set(rule.arguments) - set(ids)
    assert not unknown, f"{rule.rule}: teach this test about {unknown} so the new endpoint is checked"
    url = rule.rule
    for name in rule.arguments:
        url = url.replace(f"<{name}>", ids[name])
    return url


def call(client_api, method: str, url: str):
    return getattr(client_api, method.lower())(url, json={})


def test_public_endpoints_are_exactly_the_known_ones(app):
    public = {ep for ep, _, _ in api_routes(app) if getattr(app.view_functions[ep], "_public", False)}
    assert public == PUBLIC


def test_every_private_endpoint_needs_a_caller(app, world):
    client = app.test_client()
    for endpoint, method, rule in api_routes(app):
        if endpoint in PUBLIC:
            continue
        resp = getattr(client, method.lower())(url_for_rule(rule, world["ids"]), json={})
        assert resp.status_code == 401, (method, rule.rule, resp.json)


def test_an_outsider_gets_404_for_everything_of_another_workspace(app, world):
    outsider, ids = world["outsider"], world["ids"]
    checked = 0
    for endpoint, method, rule in api_routes(app):
        if endpoint in PUBLIC or not set(rule.arguments) - GLOBAL:
            continue
        resp = call(outsider.api, method, url_for_rule(rule, ids))
        assert resp.status_code == 404, (method, rule.rule, resp.status_code, resp.json)
        assert resp.json["error"]["code"] == "not_found"
        checked += 1
    assert checked >= 20


def test_lists_never_show_another_workspaces_objects(app, world):
    outsider, ids = world["outsider"], world["ids"]
    secret_ids = {v for k, v in ids.items() if k not in GLOBAL} | {world["log_id"]}
    for endpoint, method, rule in api_routes(app):
        if method != "GET" or endpoint in PUBLIC or set(rule.arguments) - GLOBAL:
            continue
        url = url_for_rule(rule, ids)
        resp = outsider.api.get(url)
        assert resp.status_code == 200, (rule.rule, resp.json)
        text = json.dumps(resp.json)
        assert not [i for i in secret_ids if i in text], (rule.rule, text)
        asking = outsider.api.get(url, query_string={"workspace_id": ids["workspace_id"]})
        assert asking.status_code in (200, 404)
        assert not [i for i in secret_ids if i in json.dumps(asking.json)], rule.rule


def test_a_viewer_reads_but_every_write_is_403(app, world):
    viewer, ids = world["viewer"], world["ids"]
    personal = {"token_id"}  # a viewer's own tokens are theirs to manage, checked elsewhere
    for endpoint, method, rule in api_routes(app):
        scoped = set(rule.arguments) - GLOBAL - personal
        if endpoint in PUBLIC or not scoped or (personal & set(rule.arguments)):
            continue
        resp = call(viewer.api, method, url_for_rule(rule, ids))
        if method in WRITE_METHODS or endpoint in OWNER_READS:
            assert resp.status_code == 403, (method, rule.rule, resp.status_code, resp.json)
            assert resp.json["error"]["code"] == "forbidden"
        else:
            assert resp.status_code == 200, (method, rule.rule, resp.json)


def test_a_form_cannot_be_created_in_someone_elses_workspace(world):
    resp = world["outsider"].api.post(
        "/api/forms", {"name": "Intruder", "workspace_id": world["ids"]["workspace_id"]}
    )
    assert resp.status_code == 404
    resp = world["viewer"].api.post(
        "/api/forms", {"name": "Nope", "workspace_id": world["ids"]["workspace_id"]}
    )
    assert resp.status_code == 403


def test_a_token_acts_only_within_its_users_workspaces(app, api, people, world):
    outsider = world["outsider"]
    mine = outsider.api.create_form("B form")
    assert api.get(f"/api/forms/{mine['id']}").status_code == 404  # the admin token is the first owner only
    listed = [f["id"] for f in outsider.api.get("/api/forms").json["items"]]
    assert listed == [mine["id"]]


def test_pages_outside_the_api_are_isolated_too(app, world):
    """Every page (GET) with another workspace's id is 404 for a logged-in outsider; pages without ids show
    none of that workspace's objects. The hosted form pages (/f/) are public by design."""
    client = app.test_client()
    assert login(client, "b@example.com").status_code == 200
    ids = world["ids"]
    secret_ids = {v for k, v in ids.items() if k not in GLOBAL | {"user_id"}}
    checked = 0
    for rule in app.url_map.iter_rules():
        if (
            rule.rule.startswith(("/api/", "/f/"))
            or "GET" not in rule.methods
            or rule.endpoint.endswith("static")
            or rule.endpoint
            == "admin.invite"  # the link itself is the credential (tests in test_invitations)
        ):
            continue
        resp = client.get(url_for_rule(rule, ids))
        if set(rule.arguments) - GLOBAL:
            assert resp.status_code == 404, (rule.rule, resp.status_code)
            checked += 1
        text = resp.get_data(as_text=True)
        assert not [i for i in secret_ids if i in text], rule.rule
    assert checked >= 3
