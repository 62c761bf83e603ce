"""A saved secret never follows a changed destination: an update (or a Test connection of unsaved changes)
that changes a field the secret is bound to must give the secret again, or gets a 422 naming it."""

from __future__ import annotations

import base64
import re

import pytest
from marshmallow import Schema, fields

from app.contract import Plugin, Secret, TestResult
from app.contract.registry import BUILTINS
from app.contract.schema import secret_bindings, secret_fields
from app.services import services
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


# A field that names where a secret goes or what it opens: a host or URL, a port or transport, an account or
# login, or the records it reads and writes (base, table, spreadsheet, worksheet, channel).
DESTINATION = re.compile(
    r"url|uri|host|port|security|tls|account|user|login|base|table|sheet|channel|endpoint|domain|server"
    r"|tenant|region|project|workspace|org|bucket|database|sid|api",
    re.IGNORECASE,
)
# (plugin, secret or "*", field): a field named like a destination that a secret is deliberately not bound to.
NOT_BOUND = {
    ("twilio_sms", "*", "messaging_service_sid"): "a sender of the account the token proves, not another one",
    ("discord", "*", "username"): "the name a message is posted under, not a login",
    ("slack", "webhook_url", "channel"): "an incoming webhook posts where it was made; channel is the bot's",
    ("webhook", "secret", "basic_username"): "it signs for the receiver at url; it is no login",
    ("webhook", "previous_secret", "basic_username"): "it signs for the receiver at url; it is no login",
    ("webhook", "auth_token", "basic_username"): "a bearer token and Basic auth are refused together",
}


def _destinations(schema) -> set[str]:
    """The fields of ``schema`` a secret has to be bound to: URLs, and plain fields named like a destination."""
    found = set()
    for name, f in schema.fields.items():
        if f.metadata.get("x-secret") or f.metadata.get("x-template") or f.metadata.get("readOnly"):
            continue  # a secret is typed anew to change; a template is the message, rendered per event
        if isinstance(f, fields.Url) or DESTINATION.search(name):
            found.add(name)
    return found


@pytest.mark.parametrize("plugin_id", sorted(BUILTINS))
def test_every_secret_of_every_builtin_is_bound_to_every_destination_field(app, plugin_id):
    schema = services(app).plugins.get(plugin_id).config_schema()
    bindings = secret_bindings(schema)
    for secret in secret_fields(schema):
        bound = set(bindings.get(secret, ()))
        assert bound <= set(schema.fields), (plugin_id, secret, bound - set(schema.fields))  # no typo
        unbound = {
            f
            for f in _destinations(schema) - bound
            if (plugin_id, "*", f) not in NOT_BOUND and (plugin_id, secret, f) not in NOT_BOUND
        }
        assert not unbound, f"{plugin_id}.{secret} can be kept while {sorted(unbound)} change"


WHSEC = "whsec_" + base64.b64encode(b"s" * 24).decode()


def _samples(sink: Sink, google) -> list[tuple[str, dict, dict, dict]]:
    """(plugin, a valid config, another valid value for each bound field, a change of an unbound field)."""
    sheet = "1AbCdEfGhIjKlMnOpQrStUvWxYz"
    return [
        (
            "webhook",
            {"url": sink.url, "secret": WHSEC, "auth_token": TOKEN},
            {"url": "https://collector.example.net/"},
            {"timeout": 5},
        ),
        (
            "webhook",
            {"url": sink.url, "basic_username": "ada", "basic_password": TOKEN},
            {"url": sink.url + "/x", "basic_username": "grace"},
            {"headers": {"X-Team": "a"}},
        ),
        (
            "email",
            {
                "host": "127.0.0.1",
                "port": 2525,
                "username": "forms",
                "password": TOKEN,
                "from_address": "forms@example.com",
                "to": ["owner@example.com"],
            },
            {"host": "smtp.attacker.example", "port": 2526, "security": "none", "username": "postmaster"},
            {"to": ["someone@example.com"], "subject": "Hello"},
        ),
        (
            "google_sheets",
            {
                "service_account_json": google.service_account(),
                "spreadsheet": sheet,
                "worksheet": "Responses",
            },
            {"spreadsheet": "1ZyXwVuTsRqPoNmLkJiHgFeDcBa", "worksheet": "Payroll"},
            {"include_metadata": False},
        ),
        (
            "airtable",
            {"token": "patSaved.0123456789abcdef", "base_id": "appSAVEDBASE00001", "table": "Responses"},
            {"base_id": "appOTHERBASE00001", "table": "Salaries"},
            {"typecast": False},
        ),
        (
            "twilio_sms",
            {
                "account_sid": "AC" + "a1" * 16,
                "auth_token": "twilio-auth-token-0123456789",
                "from_number": "+14155550100",
                "to": "{{ data.phone }}",
            },
            {"account_sid": "AC" + "b2" * 16},
            {"from_number": "+14155550199", "max_segments": 2},
        ),
        (
            "slack",
            {"token": "xoxb-" + TOKEN, "channel": "#forms"},
            {"channel": "#payroll"},
            {"text": "New: {{ form.name }}", "blocks": False},
        ),
    ]


def test_no_builtin_secret_reaches_a_changed_destination_without_being_entered_again(app, api, sink, google):
    """Every declared binding of every built-in, driven through the API: a change of the bound field that
    keeps the saved secret is refused, by a save and by a Test of unsaved changes; typed again, it is taken."""
    samples = _samples(sink, google)
    driven = {(p, secret, f) for p, config, moved, _ in samples for secret in config for f in moved}
    plugins = services(app).plugins
    for plugin_id in BUILTINS:
        for secret, bound in secret_bindings(plugins.get(plugin_id).config_schema()).items():
            for f in bound:
                if secret != "previous_secret":  # set by the webhook itself, never from input
                    assert (plugin_id, secret, f) in driven, f"add a sample moving {plugin_id}.{f} ({secret})"

    for plugin_id, config, moved, unrelated in samples:
        schema = plugins.get(plugin_id).config_schema()
        secrets = [s for s in secret_fields(schema) if s in config]
        for field, value in moved.items():
            saved = _saved(api, plugin_id, config)
            path = f"/api/plugin-configs/{saved['id']}"
            keep = {k: v for k, v in config.items() if k not in secrets}  # omitted: "keep the saved ones"
            masked = {**keep, **dict.fromkeys(secrets, "********")}  # sending the mask back means "keep" too
            bound = [s for s in secrets if field in secret_bindings(schema).get(s, ())]
            for attempt in ({**keep, field: value}, {**masked, field: value}):
                for resp in (
                    api.patch(path, {"config": attempt}),
                    api.post(f"{path}/test", {"config": attempt}),
                ):
                    assert resp.status_code == 422, (plugin_id, field, resp.json)
                    details = resp.json["error"]["details"]["config"]
                    for secret in bound:
                        assert f"Enter {secret} again" in details[secret][0] and field in details[secret][0]
            assert api.get(path).json["config"] == saved["config"]  # nothing changed
            again = api.patch(path, {"config": {**config, field: value}})
            assert again.status_code == 200, (plugin_id, field, again.json)
            assert again.json["config"][field] == value

        saved = _saved(api, plugin_id, config)
        path = f"/api/plugin-configs/{saved['id']}"
        kept = api.patch(
            path, {"config": {**{k: v for k, v in config.items() if k not in secrets}, **unrelated}}
        )
        assert kept.status_code == 200, (plugin_id, unrelated, kept.json)
        assert all(kept.json["config"][s] == "********" for s in secrets)


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
    """The token goes only to SLACK_API_URL (an operator setting); webhook_url, a destination of its own, is a
    secret itself and cannot be combined with a saved token."""
    saved = _saved(api, "slack", {"token": "xoxb-" + TOKEN, "channel": "#forms"})
    path = f"/api/plugin-configs/{saved['id']}"
    moved = {"webhook_url": other_sink.url + "/services/T/B/x", "channel": None}
    assert api.patch(path, {"config": moved}).status_code == 422
    assert api.post(f"{path}/test", {"config": moved}).status_code == 422
    assert other_sink.requests == []


def test_a_third_party_plugin_declares_its_binding(api, app):
    services(app).plugins.register(RelayPlugin, "tests")
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
