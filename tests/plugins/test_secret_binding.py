"""A saved secret never follows a changed destination: an update (or a Test connection of unsaved changes)
that changes a field the secret is bound to must give the secret again, or gets a 422 naming it."""

from __future__ import annotations

import pytest
from marshmallow import Schema, fields

from app.contract import Plugin, Secret, TestResult
from tests.support.sink import Sink

TOKEN = "tok_saved_SECRET_0123456789"


class RelayConfig(Schema):
    api_base = fields.Url(required=True, require_tld=False)
    api_key = Secret(bound_to=("api_base",), required=True)
    label = fields.String(load_default="")


class RelayPlugin(Plugin):
    """A third-party plugin that sends its key to an API base of the config."""

    id = "relay"
    name = "Relay"
    config_schema = RelayConfig

    def test_connection(self, config):
        return TestResult(True, f"would call {config['api_base']}")


@pytest.fixture
def other_sink():
    """The editor's own host."""
    s = Sink()
    yield s
    s.close()


def _saved(api, plugin_id: str, config: dict) -> dict:
    form = api.create_form()
    return api.add_plugin(form["id"], plugin_id, config)


def _assert_refused(resp, secret: str, changed: str) -> None:
    assert resp.status_code == 422, resp.json
    [message] = resp.json["error"]["details"]["config"][secret]
    assert f"Enter {secret} again" in message and changed in message


def _builtins(sink: Sink, google, smtp_host: str = "127.0.0.1") -> list[tuple[str, dict, str, dict, dict]]:
    """(plugin, saved config, secret, a change of a bound field, a change of an unbound field)."""
    sheet = "1AbCdEfGhIjKlMnOpQrStUvWxYz"
    email = {
        "host": smtp_host,
        "port": 2525,
        "username": "forms",
        "password": TOKEN,
        "from_address": "forms@example.com",
        "to": ["owner@example.com"],
    }
    return [
        (
            "webhook",
            {"url": sink.url, "auth_token": TOKEN},
            "auth_token",
            {"url": sink.url + "/x"},
            {"timeout": 5},
        ),
        (
            "webhook",
            {"url": sink.url, "basic_username": "ada", "basic_password": TOKEN},
            "basic_password",
            {"url": "https://collector.example.net/"},
            {"basic_username": "ada"},
        ),
        ("webhook", {"url": sink.url, "secret": TOKEN}, "secret", {"url": "https://example.org/"}, {}),
        (
            "email",
            email,
            "password",
            {"host": "smtp.attacker.example"},
            {"subject": "Hello"},
        ),
        (
            "email",
            email,
            "password",
            {"security": "none"},
            {"to": ["someone@example.com"]},
        ),
        ("email", email, "password", {"port": 2526}, {}),
        (
            "google_sheets",
            {"service_account_json": google.service_account(), "spreadsheet": sheet},
            "service_account_json",
            {"spreadsheet": "1ZyXwVuTsRqPoNmLkJiHgFeDcBa"},
            {"worksheet": "Responses"},
        ),
    ]


def test_every_builtin_refuses_to_keep_a_secret_when_its_destination_changes(api, sink, google):
    for plugin_id, config, secret, moved, unrelated in _builtins(sink, google):
        saved = _saved(api, plugin_id, config)
        keep = {k: v for k, v in config.items() if k != secret}  # the secret omitted: "keep the saved one"
        path = f"/api/plugin-configs/{saved['id']}"

        _assert_refused(api.patch(path, {"config": {**keep, **moved}}), secret, next(iter(moved)))
        masked = {**keep, **moved, secret: "********"}  # sending the mask back means "keep" too
        _assert_refused(api.patch(path, {"config": masked}), secret, next(iter(moved)))
        assert api.get(path).json["config"] == saved["config"]  # nothing changed

        assert api.patch(path, {"config": {**keep, **unrelated}}).status_code == 200, (plugin_id, unrelated)
        assert api.get(path).json["config"][secret] == "********"  # kept
        again = api.patch(path, {"config": {**keep, **unrelated, **moved, secret: config[secret]}})
        assert again.status_code == 200, (plugin_id, again.json)


def test_a_test_connection_of_unsaved_changes_never_sends_a_saved_token_to_a_new_url(api, sink, other_sink):
    saved = _saved(api, "webhook", {"url": sink.url, "auth_token": TOKEN})
    test = f"/api/plugin-configs/{saved['id']}/test"

    _assert_refused(api.post(test, {"config": {"url": other_sink.url}}), "auth_token", "url")
    assert other_sink.requests == [] and sink.requests == []

    # unsaved changes that keep the destination are tested with the saved token
    assert api.post(test, {"config": {"url": sink.url, "headers": {"X-Team": "a"}}}).json["success"] is True
    assert sink.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"
    assert sink.requests[-1].headers["x-team"] == "a"

    # the token typed again may go to the new URL
    retyped = {"url": other_sink.url, "auth_token": "tok_for_the_new_host"}
    assert api.post(test, {"config": retyped}).json["success"] is True
    assert other_sink.requests[-1].headers["authorization"] == "Bearer tok_for_the_new_host"


def test_a_slack_bot_token_cannot_be_moved_to_a_webhook_url(api, other_sink):
    """The token goes only to SLACK_API_URL (an operator setting); the one config field that names a
    destination, webhook_url, is a secret itself and cannot be combined with a saved token."""
    saved = _saved(api, "slack", {"token": "xoxb-" + TOKEN, "channel": "#forms"})
    path = f"/api/plugin-configs/{saved['id']}"
    moved = {"webhook_url": other_sink.url + "/services/T/B/x", "channel": None}
    assert api.patch(path, {"config": moved}).status_code == 422
    assert api.post(f"{path}/test", {"config": moved}).status_code == 422
    assert other_sink.requests == []


def test_a_third_party_plugin_declares_its_binding(api, app):
    app.extensions["formhooks.plugins"].register(RelayPlugin, "tests")
    saved = _saved(api, "relay", {"api_base": "https://api.relay.example/", "api_key": TOKEN})
    path = f"/api/plugin-configs/{saved['id']}"

    moved = api.patch(path, {"config": {"api_base": "https://relay.attacker.example/"}})
    _assert_refused(moved, "api_key", "api_base")
    unsaved = api.post(f"{path}/test", {"config": {"api_base": "https://relay.attacker.example/"}})
    _assert_refused(unsaved, "api_key", "api_base")
    assert (
        api.patch(path, {"config": {"api_base": "https://api.relay.example/", "label": "x"}}).status_code
        == 200
    )
    published = api.get("/api/plugins/relay").json["config_schema"]["properties"]["api_key"]
    assert published["x-bound-to"] == ["api_base"]  # for UIs: say which changes need the secret again
