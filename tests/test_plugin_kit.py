"""The plugin test kit (app.contract.testing) tells the truth: what it shows is what the host logs."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import pytest
from marshmallow import Schema, fields

from app.admin.filters import ICON_DIR
from app.contract import (
    ALERT_EVENT,
    EVENTS,
    FORM_EVENTS,
    ExecutionContext,
    ExecutionResult,
    Plugin,
    Secret,
    TestResult,
    raise_for_response,
    redact_headers,
    response_summary,
    send,
    shared_session,
)
from app.contract.registry import BUILTINS, _load_ref
from app.contract.testing import ALERT, FakeHTTP, Reply, check_plugin, payload, run_plugin
from app.engine import alert_delivery
from app.services import services
from tests.conftest import Api
from tests.plugins.conftest import finished_job


class PingConfig(Schema):
    url = fields.Url(required=True, require_tld=False, metadata={"description": "Where to post"})
    api_key = Secret(bound_to=("url",), required=True, metadata={"description": "Sent as a bearer token"})


class PingPlugin(Plugin):
    id = "ping"
    name = "Ping"
    description = "Posts the submission."
    category = "developer"
    icon = "webhook"
    config_schema = PingConfig

    def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        session = shared_session(bool(self.settings.get("ALLOW_PRIVATE_DESTINATIONS")))
        headers = {"Authorization": f"Bearer {ctx.config['api_key']}"}
        resp = send(
            session, "POST", ctx.config["url"], ctx.time_left, json=ctx.payload["data"], headers=headers
        )
        raise_for_response(resp)
        return ExecutionResult(
            f"Pinged, HTTP {resp.status_code}", {"data": ctx.payload["data"]}, response_summary(resp)
        )

    def test_connection(self, config: dict[str, Any]) -> TestResult:
        session = shared_session(bool(self.settings.get("ALLOW_PRIVATE_DESTINATIONS")))
        resp = send(session, "GET", config["url"], 5)
        return TestResult(resp.ok, f"HTTP {resp.status_code}")


class LeakyPlugin(PingPlugin):
    id = "leaky"

    def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        return ExecutionResult(f"sent with {ctx.config['api_key']}")

    def test_connection(self, config: dict[str, Any]) -> TestResult:
        session = shared_session(True)
        send(session, "POST", config["url"], 5, json={"text": "test"})
        return TestResult(True, "posted a test message")


def test_run_plugin_shows_what_the_execution_log_shows(make_app, fake_http):
    fake_http.script(Reply(503, "busy", {"Retry-After": "3"}))
    config = {"url": fake_http.url + "/in", "api_key": "pk_live_1234"}
    kit_attempts = [run_plugin(PingPlugin, config, payload({"email": "a@example.com"})) for _ in range(2)]

    fake_http.script(Reply(503, "busy", {"Retry-After": "3"}))
    app = make_app(SCHEDULER_ENABLED=True, RETRY_BACKOFF_MAX=0.1)
    services(app).plugins.register(PingPlugin, "test")
    api = Api(app.test_client())
    form = api.create_form()
    api.add_plugin(form["id"], "ping", config)
    job = finished_job(api, api.submit(form["id"], {"email": "a@example.com"})["jobs"][0])

    logged = sorted(job["logs"], key=lambda row: row["attempt"])
    varying = ("elapsed_ms",)
    for kit, row in zip(kit_attempts, logged, strict=True):
        shown = {k: row[k] for k in ("status", "summary", "error_type", "error_message", "request")}
        assert shown == {k: getattr(kit, k) for k in shown}
        assert {k: v for k, v in row["response"].items() if k not in varying} == {
            k: v for k, v in kit.response.items() if k not in varying
        }
    assert kit_attempts[0].retry_after == 3
    assert kit_attempts[1].summary == "Pinged, HTTP 200"


def test_a_successful_attempts_summary_is_stored_and_shown(make_app, sink):
    app = make_app(SCHEDULER_ENABLED=True)
    api = Api(app.test_client())
    form = api.create_form()
    api.add_plugin(form["id"], "webhook", {"url": sink.url})
    job = finished_job(api, api.submit(form["id"], {"email": "a@example.com"})["jobs"][0])
    assert [row["summary"] for row in job["logs"]] == ["HTTP 200"]
    assert api.get(f"/api/logs?job_id={job['id']}").json["items"][0]["summary"] == "HTTP 200"


def test_run_plugin_names_the_secrets_a_plugin_let_slip_and_scrubs_them():
    attempt = run_plugin(LeakyPlugin, {"url": "http://example.com", "api_key": "pk_live_1234"})
    assert attempt.leaked == ["api_key"]
    assert attempt.summary == "sent with [secret]"


def test_check_plugin_accepts_a_plugin_that_keeps_the_contract(fake_http):
    result = check_plugin(PingPlugin, {"url": fake_http.url, "api_key": "k" * 8}, fake_http)
    assert result.success and [r.method for r in fake_http.requests] == ["GET"]


def test_check_plugin_refuses_a_test_connection_that_sends_something(fake_http):
    with pytest.raises(AssertionError, match="test_connection changed something at the destination: POST /"):
        check_plugin(LeakyPlugin, {"url": fake_http.url, "api_key": "k" * 8}, fake_http)


def test_check_plugin_lists_every_broken_declaration():
    class Careless(Schema):
        password = fields.String(metadata={"description": "Password"})
        note = fields.String()

    class Broken(Plugin):
        id = "Bad Id"
        name = "Broken"
        category = "messaging"
        config_schema = Careless

    with pytest.raises(AssertionError) as err:
        check_plugin(Broken)
    text = str(err.value)
    for problem in (
        "id must be lower-case",
        "description is empty",
        "category 'messaging' is not one of",
        "execute and test_connection must both be implemented",
        "config field 'note' has no metadata description",
        "config field 'password' looks like a secret",
    ):
        assert problem in text


@pytest.mark.parametrize("ref", sorted(BUILTINS.values()))
def test_every_built_in_plugin_keeps_the_contract(ref):
    check_plugin(_load_ref(ref))


def test_the_fake_answers_scripted_replies_then_its_handler():
    with FakeHTTP(lambda req: Reply(201, {"path": req.path})) as fake:
        fake.script(Reply(429, "slow down", {"Retry-After": "1"}))
        session = shared_session(True)
        first = send(session, "POST", fake.url + "/a?x=1", 5, json={"n": 1})
        second = send(session, "GET", fake.url + "/b", 5)
    assert (first.status_code, first.headers["Retry-After"], first.text) == (429, "1", "slow down")
    assert (second.status_code, second.json()) == (201, {"path": "/b"})
    assert [(r.method, r.path, r.query) for r in fake.requests] == [
        ("POST", "/a", {"x": "1"}),
        ("GET", "/b", {}),
    ]
    assert [r.path for r in fake.writes()] == ["/a"]


SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40"><circle cx="20" cy="20" r="9"/></svg>'


def _logged_in(app) -> Any:
    client = app.test_client()
    resp = client.post(
        "/api/auth/login", json={"email": app.config["ADMIN_EMAIL"], "password": app.config["ADMIN_PASSWORD"]}
    )
    assert resp.status_code == 200, resp.json
    return client


def test_a_plugin_ships_its_own_svg_icon_and_a_refused_one_falls_back_to_the_plug(make_app):
    class Shipped(PingPlugin):
        id, icon, icon_svg = "shipped", "orbit", SVG

    class Scripted(PingPlugin):
        id, icon, icon_svg = "scripted", "evil", SVG.replace("<circle", '<circle onload="alert(1)"')

    app = make_app()
    registry = services(app).plugins
    registry.register(Shipped, "test")
    registry.register(Scripted, "test")
    client = _logged_in(app)
    form_id = Api(app.test_client()).create_form()["id"]

    catalogue = client.get(f"/admin/forms/{form_id}/integrations/new").get_data(as_text=True)
    assert "/admin/plugin-icons/shipped.svg" in catalogue
    assert "/admin/plugin-icons/scripted.svg" not in catalogue and "icons/plug.svg" in catalogue
    icon = client.get("/admin/plugin-icons/shipped.svg")
    assert (icon.status_code, icon.mimetype, icon.get_data(as_text=True)) == (200, "image/svg+xml", SVG)
    assert "default-src 'none'" in icon.headers["Content-Security-Policy"]
    fallback = client.get("/admin/plugin-icons/scripted.svg").get_data(as_text=True)
    assert "onload" not in fallback and fallback == (ICON_DIR / "plug.svg").read_text()


def test_every_built_in_plugins_settings_form_renders_with_its_icon(make_app):
    app = make_app()
    client = _logged_in(app)
    form_id = Api(app.test_client()).create_form()["id"]
    for plugin_id in sorted(BUILTINS):
        page = client.get(f"/admin/forms/{form_id}/integrations/new/{plugin_id}")
        assert page.status_code == 200, plugin_id
        cls = _load_ref(BUILTINS[plugin_id])
        assert f"icons/{cls.icon}.svg" in page.get_data(as_text=True), plugin_id


@pytest.mark.parametrize("first", ["app.templating", "app.field_selection", "app.contract", "plugins.email"])
def test_the_contract_imports_in_any_order(first):
    code = f"import {first}; from app.contract import render, selection_field, Plugin; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


def test_an_attempt_that_overruns_its_deadline_shows_as_a_timeout():
    release = threading.Event()

    class Hanging(PingPlugin):
        def execute(self, ctx: ExecutionContext) -> ExecutionResult:
            release.wait(30)
            return ExecutionResult()

    try:
        attempt = run_plugin(Hanging, {"url": "http://example.com", "api_key": "k" * 8}, timeout=0.2)
    finally:
        release.set()
    assert (attempt.status, attempt.error_type) == ("timeout", "timeout")
    assert attempt.error_message == "Timed out: the plugin did not finish within 0.2 s."


def _kit_plugin(schema: type[Schema]) -> type[Plugin]:
    class Kit(PingPlugin):
        config_schema = schema

    return Kit


class Unbound(Schema):
    url = fields.Url(required=True, require_tld=False, metadata={"description": "Where to post"})
    api_key = Secret(required=True, metadata={"description": "Sent as a bearer token"})


class BoundToATypo(Schema):
    host = fields.String(required=True, metadata={"description": "The server"})
    password = Secret(bound_to=("hots",), required=True, metadata={"description": "Its password"})


class StandaloneNextToAUrl(Schema):
    url = fields.Url(required=True, require_tld=False, metadata={"description": "Where to post"})
    token = Secret(standalone=True, required=True, metadata={"description": "Sent as a bearer token"})


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        (Unbound, "secret 'api_key' is bound to no field: give Secret(bound_to=(...))"),
        (BoundToATypo, "secret 'password' is bound to hots, which the config does not have"),
        (
            StandaloneNextToAUrl,
            "secret 'token' is standalone, yet the config has a URL of its own (url): bind",
        ),
    ],
    ids=["unbound", "typo", "standalone-beside-a-url"],
)
def test_check_plugin_refuses_a_secret_that_could_follow_a_new_destination(schema, problem):
    with pytest.raises(AssertionError) as err:
        check_plugin(_kit_plugin(schema))
    assert problem in str(err.value)


class WebhookUrlIsTheSecret(Schema):
    hook_url = Secret(standalone=True, required=True, metadata={"description": "The channel's webhook URL"})


class OptionalAndBound(Schema):
    host = fields.String(required=True, metadata={"description": "The server"})
    username = fields.String(load_default=None, metadata={"description": "The account"})
    password = Secret(
        bound_to=("host", "username"),
        load_default=None,
        allow_none=True,
        metadata={"description": "Optional"},
    )


@pytest.mark.parametrize("schema", [PingConfig, WebhookUrlIsTheSecret, OptionalAndBound])
def test_check_plugin_accepts_bound_and_explicitly_standalone_secrets(schema):
    assert check_plugin(_kit_plugin(schema)) is None


def test_a_secret_is_bound_or_standalone_not_both():
    with pytest.raises(ValueError, match="either bound_to fields or standalone"):
        Secret(bound_to=("url",), standalone=True)


def test_the_kit_builds_and_runs_the_alert_event_the_host_sends(fake_http):
    assert alert_delivery.ALERT_EVENT == ALERT_EVENT and ALERT_EVENT in EVENTS
    assert ALERT_EVENT not in FORM_EVENTS and ALERT_EVENT not in Plugin.triggers  # not subscribable
    snapshot = payload(event=ALERT_EVENT)
    assert (snapshot["submission"], snapshot["form"]["fields"], snapshot["data"]) == (None, [], ALERT)
    assert set(ALERT) == {"alert", "message", "link", "kind"}
    attempt = run_plugin(PingPlugin, {"url": fake_http.url, "api_key": "k" * 8}, snapshot)
    assert attempt.status == "success", attempt.error_message
    assert fake_http.requests[0].json() == ALERT
    mine = payload({"alert": "Paused", "message": "m", "link": None, "kind": "disabled"}, event=ALERT_EVENT)
    assert mine["data"]["kind"] == "disabled"


@pytest.mark.parametrize(
    ("header", "shown"),
    [
        ("Idempotency-Key", True),
        ("idempotency-key", True),
        ("X-Idempotency-Key", True),
        ("Content-Type", True),
        ("Webhook-Id", True),
        ("Authorization", False),
        ("Proxy-Authorization", False),
        ("X-Api-Key", False),
        ("Api-Key", False),
        ("X-Auth-Token", False),
        ("Cookie", False),
        ("X-Client-Secret", False),
        ("Ocp-Apim-Subscription-Key", False),
    ],
)
def test_redact_headers_hides_credentials_and_keeps_well_known_headers_readable(header, shown):
    assert redact_headers({header: "v-123"}) == {header: "v-123" if shown else "[redacted]"}


@pytest.mark.parametrize("events", [["integration.alert"], ["form.submitted", "integration.alert"]])
def test_an_integration_cannot_subscribe_to_the_alert_event(api, events):
    form = api.create_form()
    resp = api.post(
        f"/api/forms/{form['id']}/plugins",
        {"plugin_id": "webhook", "config": {"url": "http://127.0.0.1:9/"}, "trigger_events": events},
    )
    assert resp.status_code == 422 and "trigger_events" in resp.json["error"]["details"]
    assert api.get(f"/api/forms/{form['id']}/plugins").json["items"] == []
