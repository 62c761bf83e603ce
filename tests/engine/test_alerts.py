"""Failure alerts: one e-mail per incident to the owners, mute, cool-down, alert channel, daily digest."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from bson import ObjectId

from app.engine import alert_delivery, alerts, rollups
from app.models import Alert, PluginConfig, PluginExecutionLog, PluginJob, utcnow
from tests.conftest import Api
from tests.plugins.peers.certs import self_signed
from tests.plugins.peers.smtp import SmtpPeer
from tests.support.sink import Reply
from tests.support.wait import wait_until

OWNER = "admin@example.com"  # the first owner of the tests' default workspace


@pytest.fixture
def mail(tmp_path, monkeypatch) -> Iterator[SmtpPeer]:
    """The instance's SMTP server: aiosmtpd with STARTTLS and AUTH, trusted through SSL_CERT_FILE."""
    certs = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.cert))
    peer = SmtpPeer(certs, users={"alerts": "pw"})
    yield peer
    peer.close()


def _settings(mail: SmtpPeer) -> dict:
    return {
        "SMTP_URL": f"smtp://alerts:pw@localhost:{mail.port}",
        "MAIL_FROM": "Formhooks <alerts@example.com>",
        "PUBLIC_URL": "https://forms.example.com/",
        "ALERT_CHECK_INTERVAL": 0.1,
    }


def _open_circuit(config_id: str, failing_since: float) -> None:
    PluginConfig._get_collection().update_one(
        {"_id": ObjectId(config_id)},
        {"$set": {"circuit": {"state": "open", "failures": 10, "failing_since": failing_since, "opened_at": 1.0}}},
    )


def _failed_log(
    cfg: dict,
    error: str = "HTTP 500 from the destination",
    status: str = "failed",
    ago: float = 60,
    response: dict | None = None,
    job_id: str = "j",
) -> None:
    PluginExecutionLog._get_collection().insert_one(
        {"job_id": job_id, "config_id": cfg["id"], "workspace_id": cfg["workspace_id"], "form_id": cfg["form_id"],
         "plugin_id": "webhook", "attempt": 1, "event": "form.submitted", "status": status,
         "error_message": error if status != "success" else None, "response": response or {},
         "executed_at": utcnow() - dt.timedelta(seconds=ago)}
    )


def test_an_open_circuit_mails_the_owners_once_with_the_last_error_and_a_link(make_app, mail):
    app = make_app(**_settings(mail))
    api = Api(app.test_client())
    form = api.create_form()
    hook = api.add_plugin(form["id"], "webhook", {"url": "https://example.com/hook"}, name="CRM hook")
    job = str(ObjectId())
    with app.app_context():
        _failed_log(hook, "HTTP 503 Service Unavailable", response={"status_code": 503}, job_id=job)
        _open_circuit(hook["id"], time.time() - 30)
        [alert] = alerts.check(app.config)
        assert alerts.check(app.config) == []  # the same incident, found again
    [sent] = mail.wait_for(1)
    assert sent.rcpt_tos == [OWNER]
    assert sent.message["Subject"] == "[Formhooks] Integration 'CRM hook' keeps failing"
    body = sent.message.get_content()
    assert "Last failure: attempt 1 failed with HTTP 503 at " in body
    assert f"its log: https://forms.example.com/admin/jobs/{job}" in body
    assert f"https://forms.example.com/admin/integrations/{hook['id']}" in body
    listed = api.get("/api/alerts").json["items"]
    assert [a["id"] for a in listed] == [str(alert.id)]
    assert listed[0]["deliveries"] == [{"channel": "email", "status": "sent", "detail": "to 1 owner(s)"}]


def test_a_new_incident_within_the_cooldown_raises_no_second_alert(make_app, mail):
    app = make_app(**_settings(mail), ALERT_COOLDOWN=3600)
    api = Api(app.test_client())
    form = api.create_form()
    hook = api.add_plugin(form["id"], "webhook", {"url": "https://example.com/hook"})
    with app.app_context():
        _open_circuit(hook["id"], 1000.0)
        assert len(alerts.check(app.config, now=5000.0)) == 1
        _open_circuit(hook["id"], 6000.0)  # it recovered, then failed again
        assert alerts.check(app.config, now=6100.0) == []
        _open_circuit(hook["id"], 9000.0)
        assert len(alerts.check(app.config, now=9000.0)) == 1  # the cool-down is over


def test_a_muted_integration_raises_no_alert(make_app, mail):
    app = make_app(**_settings(mail))
    api = Api(app.test_client())
    form = api.create_form()
    muted = api.add_plugin(form["id"], "webhook", {"url": "https://example.com/a"}, alerts_muted=True)
    loud = api.add_plugin(form["id"], "webhook", {"url": "https://example.com/b"})
    with app.app_context():
        for hook in (muted, loud):
            _open_circuit(hook["id"], time.time())
        assert [a.config_id for a in alerts.check(app.config)] == [loud["id"]]
        assert api.patch(f"/api/plugin-configs/{loud['id']}", {"alerts_muted": True}).json["alerts_muted"]
        _open_circuit(loud["id"], time.time() + 1)
        assert alerts.check(app.config, now=time.time() + 10_000) == []


def test_a_disabled_integration_alerts_even_within_the_cooldown(make_app, mail):
    app = make_app(**_settings(mail))
    api = Api(app.test_client())
    form = api.create_form()
    hook = api.add_plugin(form["id"], "webhook", {"url": "https://example.com/hook"}, name="Hook")
    off_by_hand = api.add_plugin(form["id"], "webhook", {"url": "https://example.com/x"}, enabled=False)
    with app.app_context():
        _open_circuit(hook["id"], time.time())
        assert len(alerts.check(app.config)) == 1
        PluginConfig._get_collection().update_one(
            {"_id": ObjectId(hook["id"])},
            {"$set": {"enabled": False, "disabled_at": utcnow(), "disabled_reason": "The endpoint answered 410."}},
        )
        [alert] = alerts.check(app.config)
    assert alert.kind == "disabled" and off_by_hand["id"] != alert.config_id
    assert "“Hook” was switched off" in mail.wait_for(2)[1].message.get_content()


def _attempts(cfg: dict, outcomes: list[str], ago: float = 60) -> None:
    """Attempts of ``cfg``'s jobs as the engine counts them where it settles a job (engine.rollups)."""
    at = utcnow() - dt.timedelta(seconds=ago)
    rollups.record(
        rollups.Settled(ObjectId(), cfg["id"], cfg["form_id"], cfg["workspace_id"], at, outcome, at, "HTTP 500")
        for outcome in outcomes
    )


@pytest.mark.parametrize(
    ("flaky", "fine", "raised"),
    [
        (["retried"] * 7 + ["completed"] * 5, ["retried"] * 3 + ["completed"] * 9, "7 of its 12"),
        (["failed"] * 4 + ["retried"] * 6 + ["completed"] * 2, ["completed"] * 20, "10 of its 12"),
        (["failed"] * 5 + ["completed"] * 5, ["failed"] * 9, "5 of its 10"),  # "fine": under ALERT_MIN_ATTEMPTS
    ],
)
def test_a_high_failure_rate_over_the_past_hour_raises_an_alert(make_app, mail, flaky, fine, raised):
    app = make_app(**_settings(mail), ALERT_MIN_ATTEMPTS=10, ALERT_FAILURE_RATE=0.5)
    api = Api(app.test_client())
    form = api.create_form()
    flaky_hook = api.add_plugin(form["id"], "webhook", {"url": "https://example.com/a"}, name="Flaky")
    fine_hook = api.add_plugin(form["id"], "webhook", {"url": "https://example.com/b"}, name="Fine")
    with app.app_context():
        _attempts(flaky_hook, flaky)
        _attempts(fine_hook, fine)
        _attempts(fine_hook, ["failed"] * 30, ago=3 * 3600)  # hours ago: outside the past hour
        [alert] = alerts.check(app.config)
    assert (alert.kind, alert.config_id) == ("failure_rate", flaky_hook["id"])
    assert f"{raised} attempts in the past hour failed" in alert.message


def test_the_failure_rate_is_read_from_the_rollups_not_from_the_execution_logs(make_app, mail):
    # the engine counts every settled job in the rollups; the logs may be pruned or millions long
    app = make_app(**_settings(mail), ALERT_MIN_ATTEMPTS=10, ALERT_FAILURE_RATE=0.5)
    api = Api(app.test_client())
    form = api.create_form()
    counted = api.add_plugin(form["id"], "webhook", {"url": "https://example.com/a"}, name="Counted")
    logged = api.add_plugin(form["id"], "webhook", {"url": "https://example.com/b"}, name="Logged only")
    with app.app_context():
        _attempts(counted, ["failed"] * 10)
        for _ in range(20):
            _failed_log(logged)
        [alert] = alerts.check(app.config)
    assert alert.config_id == counted["id"]
    assert "10 of its 10 attempts in the past hour failed" in alert.message


def test_the_alert_channel_integration_gets_the_alert_as_a_delivery(make_app, mail, sink):
    app = make_app(**_settings(mail), SCHEDULER_ENABLED=True)
    api = Api(app.test_client())
    form = api.create_form()
    broken = api.add_plugin(form["id"], "webhook", {"url": "https://example.com/hook"}, name="Broken")
    channel = api.add_plugin(form["id"], "webhook", {"url": sink.url + "/alerts"}, trigger_events=["form.updated"])
    workspace = form["workspace_id"]
    other = api.put(f"/api/workspaces/{workspace}/alert-settings", {"channel_config_id": str(ObjectId())})
    assert other.status_code == 422
    chosen = api.put(
        f"/api/workspaces/{workspace}/alert-settings", {"email": False, "channel_config_id": channel["id"]}
    )
    assert chosen.json == {"workspace_id": workspace, "email": False, "channel_config_id": channel["id"],
                           "digest": False}
    with app.app_context():
        _open_circuit(broken["id"], time.time())
    [req] = sink.wait_for(1)
    body = req.json()
    assert body["event"] == "integration.alert"
    assert body["data"]["alert"] == "Integration 'Broken' keeps failing"
    assert mail.messages == []  # e-mail was switched off


def test_the_daily_digest_lists_the_integrations_that_failed(make_app, mail):
    app = make_app(**_settings(mail))
    api = Api(app.test_client())
    form = api.create_form()
    a = api.add_plugin(form["id"], "webhook", {"url": "https://example.com/a"}, name="Alpha")
    b = api.add_plugin(form["id"], "webhook", {"url": "https://example.com/b"}, name="Beta")
    ok = api.add_plugin(form["id"], "webhook", {"url": "https://example.com/c"}, name="Gamma")
    api.put(f"/api/workspaces/{form['workspace_id']}/alert-settings", {"digest": True})
    job = str(ObjectId())
    with app.app_context():
        for _ in range(3):
            _failed_log(b, "timeout after 30 s", status="timeout")
        _failed_log(a, "HTTP 500", response={"status_code": 500}, job_id=job)
        _failed_log(ok, status="success")
        _failed_log(a, "long ago", ago=2 * 86400)
        assert alert_delivery.send_digests(app.config) == 1
        assert alert_delivery.send_digests(app.config) == 0  # one a day
    [sent] = mail.wait_for(1)
    lines = [line for line in sent.message.get_content().splitlines() if line.startswith("- ")]
    assert [line.split(" at ")[0] for line in lines] == [
        "- Beta: 3 failed attempt(s); last: attempt 1 timed out",
        "- Alpha: 1 failed attempt(s); last: attempt 1 failed with HTTP 500",
    ]
    assert lines[1].endswith(f"; its log: https://forms.example.com/admin/jobs/{job}")


def test_alert_settings_are_for_owners_and_alerts_stay_in_their_workspace(api, app, people):
    form = api.create_form()
    workspace = form["workspace_id"]
    editor = people.member("ed@example.com", {workspace: "editor"})
    assert editor.api.put(f"/api/workspaces/{workspace}/alert-settings", {"digest": True}).status_code == 403
    assert editor.api.get(f"/api/workspaces/{workspace}/alert-settings").json["email"] is True
    stranger = people.member("x@example.com", {})
    assert stranger.api.get(f"/api/workspaces/{workspace}/alert-settings").status_code == 404
    hook = api.add_plugin(form["id"], "webhook", {"url": "https://example.com/hook"})
    with app.app_context():
        _open_circuit(hook["id"], time.time())
        alerts.check(app.config)
        assert Alert.objects.count() == 1
    assert len(editor.api.get("/api/alerts").json["items"]) == 1
    assert stranger.api.get("/api/alerts").json["items"] == []


@pytest.mark.slow
def test_a_destination_failing_job_after_job_sends_the_owners_exactly_one_email(make_app, mail, sink):
    # 60 failures in a row: the circuit opens at 5 and, with a cool-down of 0.01 s, reopens after every failed
    # trial (one job at a time, which is what makes this test slow), while the alerts are checked every 0.1 s.
    sink.responder = lambda req: Reply(500, b"down")
    app = make_app(
        **_settings(mail), SCHEDULER_ENABLED=True, POLL_INTERVAL=0.05, CIRCUIT_FAILURE_THRESHOLD=5,
        CIRCUIT_COOLDOWN=0.01, CIRCUIT_COOLDOWN_MAX=0.01,
    )
    api = Api(app.test_client())
    form = api.create_form()
    hook = api.add_plugin(form["id"], "webhook", {"url": sink.url}, max_attempts=1)
    for i in range(60):
        api.submit(form["id"], {"n": i})
    with app.app_context():
        wait_until(
            lambda: PluginJob.objects(config_id=hook["id"], status="failed").count() == 60,
            timeout=120, what="60 failed jobs",
        )
        assert Alert.objects.count() == 1
    mail.wait_for(1)
    assert len(mail.messages) == 1 and mail.messages[0].rcpt_tos == [OWNER]


HOSTILE_ANSWERS = [  # what a destination's owner can make an attempt record: error text, reason, body
    ("HTTP 500 URGENT: reset your password at https://evil.example/reset", {"status_code": 500}),
    ("HTTP 401 Unauthorized\n\nYour account is locked: https://evil.example/unlock",
     {"status_code": 401, "reason": "Visit https://evil.example", "body_excerpt": "call +1 555 0100 now"}),
    ("Could not connect: https://evil.example/help", {}),
    ("HTTP 200 but", {"status_code": "500 go to https://evil.example"}),  # a plugin's own response dict
]


@pytest.mark.parametrize(("error", "response"), HOSTILE_ANSWERS)
def test_an_alert_says_what_failed_with_the_status_code_and_never_the_destinations_words(
    make_app, mail, error, response
):
    app = make_app(**_settings(mail))
    api = Api(app.test_client())
    form = api.create_form()
    hook = api.add_plugin(form["id"], "webhook", {"url": "https://example.com/hook"}, name="CRM")
    job = str(ObjectId())
    with app.app_context():
        _failed_log(hook, error, response=response, job_id=job)
        _open_circuit(hook["id"], time.time())
        PluginConfig._get_collection().update_one(
            {"_id": ObjectId(hook["id"])},
            {"$set": {"enabled": False, "disabled_at": utcnow(), "disabled_reason": error}},
        )
        raised = alerts.check(app.config)
    assert {a.kind for a in raised} == {"circuit_open", "disabled"}
    for sent in mail.wait_for(2):
        body = sent.message.get_content()
        assert "evil.example" not in body and "555 0100" not in body and "locked" not in body
        assert f"its log: https://forms.example.com/admin/jobs/{job}" in body
        code = response.get("status_code")
        assert (f"failed with HTTP {code} at" in body) == isinstance(code, int)
    for alert in raised:
        assert "evil.example" not in alert.message  # nor through the alert channel or the API


def test_a_name_stored_with_line_breaks_stays_on_one_line_in_an_alert(make_app, mail):
    app = make_app(**_settings(mail))
    api = Api(app.test_client())
    form = api.create_form()
    hook = api.add_plugin(form["id"], "webhook", {"url": "https://example.com/hook"}, name="CRM")
    with app.app_context():  # as stored before names were checked
        PluginConfig._get_collection().update_one(
            {"_id": ObjectId(hook["id"])}, {"$set": {"name": "CRM\n\nURGENT: https://evil.example\u2028x"}}
        )
        _open_circuit(hook["id"], time.time())
        [alert] = alerts.check(app.config)
    [sent] = mail.wait_for(1)
    assert "\n" not in sent.message["Subject"] and "\u2028" not in alert.message
    body_lines = sent.message.get_content().splitlines()
    assert body_lines[0].startswith("“CRM  URGENT: https://evil.example x” failed")
