"""Each built-in's config schema through the API: valid and invalid examples, defaults, secret masking."""

from __future__ import annotations

import json
from functools import cache

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from marshmallow import ValidationError

from app.contract import MASK
from app.contract.registry import PluginRegistry
from app.contract.schema import validate
from app.models import PluginConfig
from app.secrets_box import SecretBox
from tests.plugins.peers.google import key_file

SHEET_URL = "https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789/edit"
EMAIL = {"host": "smtp.example.com", "from_address": "Forms <forms@example.com>", "to": ["owner@example.com"]}
HOOK = {"webhook_url": "https://hooks.slack.com/services/T1/B1/abc"}
BOT = {"token": "xoxb-123-abc", "channel": "#forms"}
REGISTRY = PluginRegistry().load(discover=False)
KEY_FILE = "<key file>"  # replaced by a real service-account key in the test


@cache
def service_account_json() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key_file(key, "forms@acme-project.iam.gserviceaccount.com", "https://oauth2.googleapis.com/token")


SHEETS = {"service_account_json": KEY_FILE, "spreadsheet": SHEET_URL}

CASES = [
    # (plugin, config, the field a 422 names; None: valid)
    ("email", EMAIL, None),
    (
        "email",
        {
            **EMAIL,
            "to": ["{{ data.email }}", "a@example.com, B <b@example.com>"],
            "port": 465,
            "security": "ssl",
        },
        None,
    ),
    (
        "email",
        {**EMAIL, "username": "forms", "password": "pw", "fields": [{"field": "email", "label": "E"}]},
        None,
    ),
    ("email", {k: v for k, v in EMAIL.items() if k != "host"}, "host"),
    ("email", {k: v for k, v in EMAIL.items() if k != "to"}, "to"),
    ("email", {**EMAIL, "to": []}, "to"),
    ("email", {**EMAIL, "to": ["not an address"]}, "to"),
    ("email", {**EMAIL, "to": "owner@example.com"}, "to"),
    ("email", {**EMAIL, "cc": ["a@example.com\r\nBcc: x@evil.example"]}, "cc"),
    ("email", {**EMAIL, "from_address": "nope"}, "from_address"),
    ("email", {**EMAIL, "port": "abc"}, "port"),
    ("email", {**EMAIL, "port": 70000}, "port"),
    ("email", {**EMAIL, "security": "tls"}, "security"),
    ("email", {**EMAIL, "password": "pw"}, "username"),
    ("email", {**EMAIL, "html": "maybe"}, "html"),
    ("email", {**EMAIL, "fields": [{"label": "no field"}]}, "fields"),
    ("email", {**EMAIL, "colour": "red"}, "colour"),
    ("slack", HOOK, None),
    ("slack", {**BOT, "text": "{{ name }} wrote", "blocks": False}, None),
    ("slack", {**BOT, "channel": "C0123ABCD"}, None),
    ("slack", {**HOOK, **BOT}, "webhook_url"),
    ("slack", {"channel": "#forms"}, "token"),  # the bot's way, without its token
    ("slack", {"token": "xoxb-123"}, "channel"),
    ("slack", {**BOT, "token": "abc"}, "token"),
    ("slack", {**BOT, "channel": "General Chat"}, "channel"),
    ("slack", {"webhook_url": "not a url"}, "webhook_url"),
    ("slack", {**HOOK, "blocks": "x"}, "blocks"),
    ("google_sheets", SHEETS, None),
    (
        "google_sheets",
        {**SHEETS, "spreadsheet": "1AbCdEfGhIjKlMnOpQrStUvWxYz", "worksheet": "Responses"},
        None,
    ),
    (
        "google_sheets",
        {**SHEETS, "columns": [{"field": "email", "header": "Email"}], "include_metadata": False},
        None,
    ),
    ("google_sheets", {"spreadsheet": SHEET_URL}, "service_account_json"),
    ("google_sheets", {**SHEETS, "service_account_json": "{not json"}, "service_account_json"),
    (
        "google_sheets",
        {**SHEETS, "service_account_json": json.dumps({"type": "authorized_user"})},
        "service_account_json",
    ),
    (
        "google_sheets",
        {**SHEETS, "service_account_json": json.dumps({"type": "service_account", "client_email": "x@y.z"})},
        "service_account_json",
    ),
    ("google_sheets", {**SHEETS, "spreadsheet": "https://example.com/not-a-sheet"}, "spreadsheet"),
    ("google_sheets", {**SHEETS, "spreadsheet": "short"}, "spreadsheet"),
    ("google_sheets", {k: v for k, v in SHEETS.items() if k != "spreadsheet"}, "spreadsheet"),
    ("google_sheets", {**SHEETS, "columns": [{"field": "email", "header": 3}]}, "columns"),
    ("google_sheets", {**SHEETS, "include_metadata": "x"}, "include_metadata"),
    (
        "google_sheets",
        {**SHEETS, "extra_columns": [{"header": "Contact", "value": "{{ steps.contact.output.id }}"}]},
        None,
    ),
    ("google_sheets", {**SHEETS, "extra_columns": [{"header": "Fixed", "value": "Lead"}]}, None),
    ("google_sheets", {**SHEETS, "extra_columns": [{"header": "Contact"}]}, "extra_columns"),
    ("google_sheets", {**SHEETS, "extra_columns": [{"header": "", "value": "x"}]}, "extra_columns"),
    ("google_sheets", {**SHEETS, "extra_columns": [{"header": "A", "value": "{{ x"}]}, "extra_columns"),
    (
        "google_sheets",
        {**SHEETS, "extra_columns": [{"header": "A", "value": "{% for i in range(10**9) %}x{% endfor %}"}]},
        "extra_columns",
    ),  # over the template budget on the sample submission
    (
        "google_sheets",
        {**SHEETS, "extra_columns": [{"header": "A", "value": "1"}, {"header": "A", "value": "2"}]},
        "extra_columns",
    ),
    (
        "google_sheets",
        {**SHEETS, "extra_columns": [{"header": "Submission ID", "value": "x"}]},
        "extra_columns",
    ),
]


def _real(config: dict) -> dict:
    return {k: service_account_json() if v == KEY_FILE else v for k, v in config.items()}


@pytest.mark.parametrize(("plugin_id", "config", "invalid"), CASES)
def test_config_examples(plugin_id, config, invalid):
    """Through the same validation the API applies when a config is saved (its errors become the 422)."""
    schema = REGISTRY.get(plugin_id).config_schema()
    if invalid is None:
        validate(schema, _real(config))
    else:
        with pytest.raises(ValidationError) as err:
            validate(schema, _real(config))
        assert list(err.value.messages) == [invalid], err.value.messages


@pytest.mark.parametrize(
    ("plugin_id", "config", "invalid"),
    [
        ("email", {**EMAIL, "port": "abc"}, "port"),
        ("slack", {"token": "xoxb-1"}, "channel"),
        ("google_sheets", {}, "spreadsheet"),
    ],
)
def test_an_invalid_config_is_a_422_naming_the_field_and_nothing_is_saved(api, plugin_id, config, invalid):
    form = api.create_form()
    resp = api.post(f"/api/forms/{form['id']}/plugins", {"plugin_id": plugin_id, "config": config})
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "validation_error"
    assert invalid in resp.json["error"]["details"]["config"]
    assert api.get(f"/api/forms/{form['id']}/plugins").json["items"] == []


def test_a_broken_private_key_is_refused(api):
    info = json.loads(service_account_json())
    info["private_key"] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    form = api.create_form()
    resp = api.post(
        f"/api/forms/{form['id']}/plugins",
        {"plugin_id": "google_sheets", "config": {**SHEETS, "service_account_json": json.dumps(info)}},
    )
    assert resp.status_code == 422
    assert "private key cannot be read" in resp.json["error"]["details"]["config"]["service_account_json"][0]


def test_defaults_are_filled_in(api):
    form = api.create_form()
    created = api.add_plugin(form["id"], "email", EMAIL)
    assert created["config"] | {} == {
        **EMAIL,
        "port": 587,
        "security": "starttls",
        "password": None,
        "subject": "New submission: {{ form.name }}",
        "html": True,
        "cc": [],
        "bcc": [],
        "fields": [],
        "attachments": [],
    }


SECRETS = [
    ("email", {**EMAIL, "username": "forms", "password": "smtp-password-1"}, ["password"]),
    ("slack", {"webhook_url": "https://hooks.slack.com/services/T1/B1/secret-hook-path"}, ["webhook_url"]),
    ("slack", {"token": "xoxb-secret-token-1", "channel": "#forms"}, ["token"]),
    ("google_sheets", SHEETS, ["service_account_json"]),
]


@pytest.mark.parametrize(("plugin_id", "config", "secrets"), SECRETS)
def test_secrets_are_masked_encrypted_and_kept_when_sent_back_masked(app, api, plugin_id, config, secrets):
    config = _real(config)
    form = api.create_form()
    created = api.add_plugin(form["id"], plugin_id, config)

    shown = api.get(f"/api/plugin-configs/{created['id']}")
    assert shown.status_code == 200
    for name in secrets:
        assert created["config"][name] == shown.json["config"][name] == MASK
        assert config[name] not in shown.get_data(as_text=True)
    stored = PluginConfig._get_collection().find_one({"name": created["name"], "form_id": form["id"]})[
        "config"
    ]
    assert all(stored[name].startswith("fernet:") for name in secrets)

    # Sent back masked with another change: the secret is kept, the change applied.
    changed = {**config, **dict.fromkeys(secrets, MASK)}
    other = "text" if plugin_id == "slack" else None  # a change of no field the secret is bound to
    if other:
        changed[other] = "#other"
    resp = api.patch(f"/api/plugin-configs/{created['id']}", {"config": changed})
    assert resp.status_code == 200, resp.json
    stored = PluginConfig._get_collection().find_one({"_id": PluginConfig.objects.get(id=created["id"]).id})[
        "config"
    ]
    box = SecretBox.from_config(app.config)
    assert {name: box.decrypt(stored[name]) for name in secrets} == {name: config[name] for name in secrets}
    if other:
        assert resp.json["config"][other] == "#other"


def test_every_builtin_is_listed_with_a_standalone_json_schema(api):
    items = {p["id"]: p for p in api.get("/api/plugins").json["items"]}
    assert {"webhook", "email", "slack", "google_sheets"} <= set(items)
    assert "$ref" not in json.dumps(items)
    email, slack, sheets = items["email"], items["slack"], items["google_sheets"]
    assert email["config_schema"]["required"] == ["from_address", "host", "to"]
    assert email["config_schema"]["properties"]["subject"]["x-template"] == "text"
    assert email["config_schema"]["properties"]["body"]["x-widget"] == "textarea"
    assert email["config_schema"]["properties"]["password"]["writeOnly"] is True
    assert email["secret_fields"] == ["password"]
    assert sorted(slack["secret_fields"]) == ["token", "webhook_url"]
    assert slack["rate_limit"] == {"calls": 1, "period": 1.0}
    assert sheets["rate_limit"] == {"calls": 60, "period": 60.0}
    columns = sheets["config_schema"]["properties"]["columns"]
    assert columns["items"]["required"] == ["field"]
    assert set(columns["items"]["properties"]) == {"field", "header"}
