"""Alerts with a state (issue 23 item 6): readable entries on the page, Acknowledge (by whom, when) in the
UI and the API, and Resolved set by itself once the integration recovers."""

from __future__ import annotations

import time

import pytest
from bson import ObjectId

from app.engine import alerts
from app.engine.alert_resolution import resolve_recovered
from app.models import Alert, PluginConfig
from tests.admin_api.conftest import csrf_headers, login, people  # noqa: F401
from tests.admin_ui.conftest import owner_client
from tests.engine.test_alerts import _failed_log, _open_circuit
from tests.support.commands import commands_sent

JOB = str(ObjectId())
SETTINGS = {"PUBLIC_URL": "https://forms.example.com/", "SMTP_URL": None}


@pytest.fixture
def app(make_app):
    return make_app(**SETTINGS)


@pytest.fixture
def failing(app, api):
    """An integration whose circuit is open, and its alert."""
    form = api.create_form()
    hook = api.add_plugin(form["id"], "webhook", {"url": "https://example.com/hook"}, name="CRM hook")
    with app.app_context():
        _failed_log(hook, response={"status_code": 503}, job_id=JOB)
        _open_circuit(hook["id"], time.time() - 30)
        [alert] = alerts.check(app.config)
    return {"hook": hook, "alert_id": str(alert.id)}


def _alert(app, alert_id: str) -> Alert:
    with app.app_context():
        return Alert.objects.get(id=alert_id)


def _set_config(app, config_id: str, **fields) -> None:
    with app.app_context():
        PluginConfig._get_collection().update_one({"_id": ObjectId(config_id)}, {"$set": fields})


def test_the_page_shows_what_failed_when_and_links_not_a_mail(app, failing, owner):
    html = owner.get("/admin/alerts").text
    entry = html.split(f'data-alert="{failing["alert_id"]}"', 1)[1].split("</li>", 1)[0]
    assert "<pre" not in entry and "Fix it:" not in entry and "forms.example.com" not in entry
    assert "Keeps failing" in entry and "failed 10 times in a row" in entry
    assert "attempt 1 failed with HTTP 503 at" in entry  # the last failure, apart, with its log
    assert f'<a href="/admin/jobs/{JOB}">its log</a>' in entry
    assert f"/admin/integrations/{failing['hook']['id']}" in entry
    assert f"config_id={failing['hook']['id']}" in entry and "status=failed" in entry  # its failed attempts
    assert ">Open</span>" in entry and "Acknowledge" in entry


def test_acknowledging_records_who_and_when_once(app, failing):
    owner = owner_client(app)
    url = f"/api/alerts/{failing['alert_id']}/acknowledge"
    resp = owner.post(url, headers=csrf_headers(owner))
    assert resp.status_code == 200
    assert resp.json["state"] == "acknowledged" and resp.json["acknowledged"]["by"]["name"]
    first = resp.json["acknowledged"]
    assert owner.post(url, headers=csrf_headers(owner)).json["acknowledged"] == first  # kept
    html = owner.get("/admin/alerts").text
    entry = html.split(f'data-alert="{failing["alert_id"]}"', 1)[1].split("</li>", 1)[0]
    assert "Acknowledged" in entry and f"by {first['by']['name']}" in entry
    assert "data-action=" not in entry  # nothing left to acknowledge
    listed = owner.get("/api/alerts").json["items"][0]
    assert listed["state"] == "acknowledged" and listed["acknowledged"] == first


def test_only_editors_and_owners_of_its_workspace_acknowledge(app, failing, people):  # noqa: F811
    url = f"/api/alerts/{failing['alert_id']}/acknowledge"
    with app.app_context():
        home = people.default_workspace()
        viewer = people.member("viewer@example.com", {home: "viewer"})
        stranger = people.member("owner@elsewhere.test", {people.workspace("Elsewhere"): "owner"})
        editor = people.member("editor@example.com", {home: "editor"})
    assert stranger.api.post(url).status_code == 404
    assert viewer.api.post(url).status_code == 403
    assert _alert(app, failing["alert_id"]).acknowledged_at is None
    page = app.test_client()
    assert login(page, "viewer@example.com").status_code == 200
    shown = page.get("/admin/alerts").text
    assert f'data-alert="{failing["alert_id"]}"' in shown and "/acknowledge" not in shown
    assert editor.api.post(url).status_code == 200
    assert _alert(app, failing["alert_id"]).acknowledged_by == editor.id


@pytest.mark.parametrize("alert_id", ["nope", "0" * 24, "zz" * 12])
def test_acknowledging_an_unknown_alert_is_a_404(api, alert_id):
    assert api.post(f"/api/alerts/{alert_id}/acknowledge").status_code == 404


def test_acknowledging_without_the_csrf_header_changes_nothing(app, failing):
    owner = owner_client(app)
    assert owner.post(f"/api/alerts/{failing['alert_id']}/acknowledge").status_code in (400, 403)
    assert _alert(app, failing["alert_id"]).acknowledged_at is None


def test_an_alert_is_resolved_once_its_circuit_closes(app, failing):
    with app.app_context():
        assert resolve_recovered() == 0  # still failing
    assert _alert(app, failing["alert_id"]).state == "open"
    _set_config(app, failing["hook"]["id"], circuit={"state": "half_open", "failures": 10})
    with app.app_context():
        assert resolve_recovered() == 0  # a trial is not a recovery
    _set_config(app, failing["hook"]["id"], circuit={"state": "closed", "failures": 0})
    with app.app_context():
        alerts.check(app.config)  # (the alerts pass resolves too)
    resolved = _alert(app, failing["alert_id"])
    assert resolved.state == "resolved" and resolved.resolved_at is not None
    assert ">Resolved</span>" in owner_client(app).get("/admin/alerts").text


def test_a_disabled_integration_resolves_when_switched_back_on(app, failing):
    _set_config(app, failing["hook"]["id"], enabled=False, circuit={"state": "closed", "failures": 0})
    with app.app_context():
        assert resolve_recovered() == 0
    _set_config(app, failing["hook"]["id"], enabled=True)
    with app.app_context():
        assert resolve_recovered() == 1
        assert resolve_recovered() == 0


def test_a_failure_rate_alert_resolves_on_a_delivered_attempt(app, failing):
    with app.app_context():
        Alert._get_collection().update_one({"_id": ObjectId(failing["alert_id"])}, {"$set": {"kind": "failure_rate"}})
    _set_config(app, failing["hook"]["id"], circuit={"state": "closed", "failures": 0})
    with app.app_context():
        _failed_log(failing["hook"], ago=-1)  # (after the alert) failed again
        assert resolve_recovered() == 0
        _failed_log(failing["hook"], status="success", ago=-2)
        with commands_sent() as sent:
            assert resolve_recovered() == 1
    reads = [c["filter"] for n, c in sent if n == "find" and c["find"] == "plugin_execution_logs"]
    assert reads == [{"config_id": {"$eq": failing["hook"]["id"]}}]  # (its latest attempt; a time beside: a walk)


def test_a_deleted_integrations_alert_is_resolved_and_a_digest_never(app, api, failing):
    with app.app_context():
        digest = Alert(workspace_id=failing["hook"]["workspace_id"], kind="digest", title="Digest", message="x",
                       dedup_key="digest:1").save()
    assert api.delete(f"/api/plugin-configs/{failing['hook']['id']}").status_code in (200, 204)
    with app.app_context():
        assert resolve_recovered() == 1
    assert _alert(app, str(digest.id)).state == "digest" and _alert(app, str(digest.id)).resolved_at is None
