"""The integration editor: sections, modes, units, secret generation, and the preview of what would be
sent (built by the plugin's own code through the real templates, and not sent)."""

from __future__ import annotations

import re

FIELDS = [{"name": "name"}, {"name": "email", "type": "email"}, {"name": "qty", "type": "number"}]


def test_settings_come_in_sections_with_units_and_a_choice_of_how_to_connect(api, owner):
    form = api.create_form("Orders", FIELDS)
    webhook = owner.get(f"/admin/forms/{form['id']}/integrations/new/webhook").text
    legends = re.findall(r'<fieldset class="config-section">\s*<legend>([^<]+)</legend>', webhook)
    assert legends == ["Connection", "Security", "Advanced"]
    assert '<span class="unit" id="f-config-timeout-unit" aria-hidden="true">seconds</span>' in webhook  # said in the label
    assert 'data-generate="whsec"' in webhook
    slack = owner.get(f"/admin/forms/{form['id']}/integrations/new/slack").text
    assert "How to connect" in slack
    assert re.search(r'data-mode="Incoming webhook"\s+checked', slack)
    assert '<div class="mode-panel" data-mode-panel="Bot token and channel" hidden>' in slack


def test_the_preview_shows_exactly_what_a_webhook_would_send_for_a_submission(api, owner, sink):
    form = api.create_form("Orders", FIELDS)
    accepted = api.submit(form["id"], {"name": "Ada", "email": "ada@example.com", "qty": "3"})
    body = {
        "config": {
            "url": f"{sink.url}/hook",
            "auth_token": "tok_secret_value_123",
            "headers": {"X-Team": "growth"},
        },
        "form_id": form["id"],
        "submission_id": accepted["id"],
    }
    shown = api.post("/api/plugins/webhook/preview", body).json
    assert shown["error"] is None and shown["sample"] is False
    preview = shown["preview"]
    assert preview["url"] == f"{sink.url}/hook" and preview["headers"]["X-Team"] == "growth"
    assert preview["body"]["data"] == {"name": "Ada", "email": "ada@example.com", "qty": 3}
    assert "tok_secret_value_123" not in str(shown)
    assert sink.requests == []  # nothing was sent


def test_the_preview_renders_templates_for_a_sample_and_reports_template_failures(api, owner):
    form = api.create_form("Orders", FIELDS)
    config = {
        "host": "smtp.example.com",
        "from_address": "Forms <forms@example.com>",
        "to": ["{{ data.email }}"],
        "subject": "New order from {{ data.name }}: {{ data.qty }}",
    }
    sample = api.post("/api/plugins/email/preview", {"config": config, "form_id": form["id"]}).json
    assert sample["sample"] is True
    assert sample["preview"]["subject"] == "New order from Ada Lovelace: 42"
    assert sample["preview"]["recipients"] == ["ada@example.com"]
    broken = {"webhook_url": "https://hooks.slack.com/services/T/B/X", "text": "{{ 1 / 0 }}"}
    failed = api.post("/api/plugins/slack/preview", {"config": broken, "form_id": form["id"]}).json
    assert failed["preview"] is None and "could not be rendered" in failed["error"]
    bad = api.post("/api/plugins/webhook/preview", {"config": {"url": "nope"}, "form_id": form["id"]})
    assert bad.status_code == 422 and "url" in bad.json["error"]["details"]["config"]


def test_the_preview_reads_nothing_of_another_workspace(app, api):
    from tests.admin_api.conftest import People

    form = api.create_form("Private", FIELDS)
    hook = api.add_plugin(
        form["id"], "webhook", {"url": "http://127.0.0.1:9/hook", "auth_token": "tok_private_123"}
    )
    accepted = api.submit(form["id"], {"name": "Ada", "email": "ada@example.com", "qty": 1})
    people = People(app)
    with app.app_context():
        outsider = people.member("mallory@example.com", {people.workspace("Elsewhere"): "owner"})
        own_form = outsider.api.create_form("Mine", FIELDS)
    config = {"url": "http://127.0.0.1:9/x"}
    attempts = [
        {"config": config, "form_id": form["id"]},
        {"config": config, "form_id": own_form["id"], "submission_id": accepted["id"]},
        {"config": config, "form_id": own_form["id"], "config_id": hook["id"]},
    ]
    for body in attempts:
        resp = outsider.api.post("/api/plugins/webhook/preview", body)
        assert resp.status_code == 404, (body, resp.json)
        assert "ada@example.com" not in resp.text and "tok_private_123" not in resp.text


def test_the_sheets_preview_shows_the_row_it_would_write(api):
    from tests.plugins.peers.google import FakeGoogle

    google = FakeGoogle()
    try:
        form = api.create_form("Orders", FIELDS)
        accepted = api.submit(form["id"], {"name": "Ada", "email": "ada@example.com", "qty": "2"})
        config = {
            "service_account_json": google.service_account("bot@example.iam.gserviceaccount.com"),
            "spreadsheet": "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        }
        body = {"config": config, "form_id": form["id"], "submission_id": accepted["id"]}
        shown = api.post("/api/plugins/google_sheets/preview", body).json
    finally:
        google.close()
    row = shown["preview"]["row"]
    assert row["name"] == "Ada" and row["qty"] == 2 and row[next(iter(row))] == accepted["id"]
    assert "PRIVATE KEY" not in str(shown)
