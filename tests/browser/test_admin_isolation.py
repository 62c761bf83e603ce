"""Every admin page behind a login, and 404 for another workspace's objects: the URL map is walked, so a
new page cannot escape the check. (Flask test client; no browser needed.)"""

from __future__ import annotations

import re

import pytest

from app import auth

PASSWORD = "correct horse battery"
OPEN = {"admin.login", "admin.static", "admin.invite"}  # an invitation link is its own credential
GLOBAL = {"plugin_id", "fmt", "name"}  # the plugin catalogue and icons are the same for everyone; export formats too


@pytest.fixture
def setup(app, api):
    """Another workspace's form, integration and job (made with the first owner's token), and an outsider."""
    form = api.create_form("Private form of A", [{"name": "email", "type": "email"}])
    config = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/hook"})
    accepted = api.submit(form["id"], {"email": "a@example.com"})
    job_id = accepted["jobs"][0]
    with app.app_context():
        outsider = auth.create_user("b@example.com", PASSWORD)
        auth.create_workspace("B", outsider)
    flow = api.post("/api/workflows", {"name": "Flow of A", "trigger": {"type": "manual"}, "steps": []}).json
    ids = {
        "workflow_id": flow["id"],
        "run_id": api.post(f"/api/workflows/{flow['id']}/run", {"data": {}}).json["id"],
        "form_id": form["id"],
        "config_id": config["id"],
        "job_id": job_id,
        "plugin_id": "webhook",
        "submission_id": accepted["id"],
        "fmt": "csv",
        "name": "webhook",
    }
    return ids


def admin_pages(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin.") and rule.endpoint not in OPEN and "GET" in rule.methods:
            yield rule


def url(rule, ids: dict[str, str]) -> str:
    unknown = set(rule.arguments) - set(ids)
    assert not unknown, f"{rule.rule}: teach this test about {unknown} so the new page is checked"
    path = rule.rule
    for name in rule.arguments:
        path = path.replace(f"<{name}>", ids[name])
    return path


def test_every_page_needs_a_login(app, setup):
    client = app.test_client()
    for rule in admin_pages(app):
        resp = client.get(url(rule, setup))
        assert resp.status_code == 302, rule.rule
        assert resp.headers["Location"].startswith("/admin/login?next="), rule.rule


def test_an_outsider_gets_404_for_every_page_of_another_workspace(app, setup):
    client = app.test_client()
    assert (
        client.post("/api/auth/login", json={"email": "b@example.com", "password": PASSWORD}).status_code
        == 200
    )
    checked = 0
    for rule in admin_pages(app):
        if rule.endpoint == "admin.plugin_icon":
            continue  # the catalogue's icons hold no workspace's data (and built-ins ship none: 404)
        resp = client.get(url(rule, setup))
        if set(rule.arguments) - GLOBAL:
            assert resp.status_code == 404, rule.rule
            checked += 1
        elif rule.endpoint == "admin.new_submission_rows":  # (a fragment: asks for the rows newer than a key)
            assert resp.status_code == 400, rule.rule
        else:
            assert resp.status_code in (200, 403), rule.rule
            assert "Private form of A" not in resp.text, rule.rule
    for query in ("form_id", "config_id"):
        assert client.get(f"/admin/executions?{query}={setup[query]}").status_code == 404
    newer = f"00000000000000000{'0' * 24}"
    rows = client.get(f"/admin/submissions/rows?form_id={setup['form_id']}&newer={newer}")
    assert rows.status_code == 404 and "a@example.com" not in rows.text
    for page in ("/admin/submissions", "/admin/submissions/export.csv", "/admin/submissions/export.json"):
        assert client.get(f"{page}?form_id={setup['form_id']}").status_code == 404
        assert "a@example.com" not in client.get(page).text
    assert "a@example.com" not in client.get(f"/admin/executions?q={setup['submission_id']}").text
    assert checked >= 4


def test_a_login_form_without_its_csrf_token_asks_again_instead_of_failing(app, setup):
    resp = app.test_client().post("/admin/login", data={"email": "b@example.com", "password": PASSWORD})
    assert resp.status_code == 400
    assert "please log in again" in resp.text
    assert resp.mimetype == "text/html"


def test_too_many_login_attempts_are_refused_with_a_page(make_app):
    client = make_app(LOGIN_RATE_LIMIT="2 per minute").test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/admin/login").text).group(1)
    answers = [
        client.post("/admin/login", data={"email": "x@example.com", "password": "nope", "csrf_token": token})
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [401, 401, 429]
    assert "Too many requests" in answers[-1].text and answers[-1].mimetype == "text/html"
