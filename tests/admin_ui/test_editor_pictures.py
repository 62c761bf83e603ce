"""The editor speaks plainly: previews drawn as the message (escaped outside a sandboxed frame), the
insert-field picker, a generated secret's warning and copy button, the rotation state, colours and units."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from app.models import PluginConfig

SCRIPT = "<script>alert('x')</script>"
FIELDS = [
    {"name": "name", "label": "Your name"},
    {"name": "email", "type": "email", "label": "E-mail"},
    {"name": "first-choice", "label": "First choice"},
]
DATA = {"name": f"Ada {SCRIPT}", "email": "ada@example.com", "first-choice": "<b>tea</b> & *cake*"}
HOOK = "https://hooks.slack.com/services/T1/B1/secret-path"


def show(owner, form_id: str, plugin_id: str, config: dict, submission_id: str | None) -> dict:
    page = owner.get(f"/admin/forms/{form_id}/integrations/new/{plugin_id}").text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    resp = owner.post(
        f"/admin/plugins/{plugin_id}/preview",
        json={"config": config, "form_id": form_id, "submission_id": submission_id},
        headers={"X-CSRFToken": token},
    )
    assert resp.status_code == 200, resp.text
    return resp.json


def outside_frames(fragment: str) -> str:
    """The fragment without the srcdoc attributes of its frames (the only place HTML may be)."""
    return re.sub(r'srcdoc="[^"]*"', 'srcdoc=""', fragment)


@pytest.fixture
def submitted(api):
    form = api.create_form("Orders", FIELDS)
    return form, api.submit(form["id"], DATA)["id"]


@pytest.mark.parametrize(
    ("plugin_id", "config", "expected"),
    [
        (
            "slack",
            {"webhook_url": HOOK},
            ['<p class="chat-header">New submission: Orders</p>', "Your Slack app"],
        ),
        (
            "slack",
            {
                "webhook_url": HOOK,
                "blocks": False,
                "text": "*{{ data.name }}* said _{{ data['first-choice'] }}_",
            },
            ["<strong>Ada &lt;script&gt;", "<em>&lt;b&gt;tea&lt;/b&gt; &amp; *cake*</em>"],
        ),
        (
            "discord",
            {
                "webhook_url": "https://discord.com/api/webhooks/1/tok",
                "color": 0xFF0000,
                "content": "**{{ name }}**",
            },
            ["border-left-color: #ff0000", "<strong>Ada &lt;script&gt;", "<dt>First choice</dt>"],
        ),
        (
            "teams",
            {"webhook_url": "https://example.webhook.office.com/x", "text": "Hi **{{ email }}**"},
            ["<strong>ada@example.com</strong>", "<dt>Your name</dt>", "Microsoft Teams"],
        ),
    ],
)
def test_chat_previews_are_drawn_as_the_message_with_submitted_text_escaped(
    api, owner, submitted, plugin_id, config, expected
):
    form, sub_id = submitted
    answer = show(owner, form["id"], plugin_id, config, sub_id)
    fragment = answer["html"]
    assert answer["error"] is None and answer["preview"]  # the API's answer is all there too
    for piece in expected:
        assert piece in fragment, (piece, fragment)
    assert "<script" not in fragment and "<b>" not in fragment  # submitted HTML is text, never markup
    assert "<details" in fragment and "Raw JSON" in fragment  # the JSON is one click away
    assert "secret-path" not in fragment and "webhooks/1/tok" not in fragment  # secrets stay out


def test_the_email_preview_is_the_mail_its_html_only_in_a_sandboxed_frame(api, owner, submitted):
    form, sub_id = submitted
    config = {
        "host": "smtp.example.com",
        "from_address": "Forms <forms@example.com>",
        "to": ["{{ data.email }}"],
        "subject": "Order from {{ data.name }}",
    }
    fragment = show(owner, form["id"], "email", config, sub_id)["html"]
    [frame] = re.findall(r"<iframe[^>]*>", fragment)
    assert 'sandbox=""' in frame  # nothing in the mail runs, submits, navigates or reaches the app
    srcdoc = html.unescape(re.search(r'srcdoc="([^"]*)"', frame).group(1))
    assert "<table" in srcdoc and "Ada &lt;script&gt;" in srcdoc  # the mail's own escaping, as sent
    rest = outside_frames(fragment)
    assert "<script" not in rest and "<table" not in rest
    assert "Order from Ada &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in rest  # the subject, escaped
    assert '<pre class="mail-text" tabindex="0">' in rest and "Your name: Ada &lt;script&gt;" in rest


def test_a_plugin_without_a_picture_shows_its_json_open(api, owner, submitted):
    form, sub_id = submitted
    answer = show(owner, form["id"], "webhook", {"url": "https://example.com/hook"}, sub_id)
    assert '<details class="raw-json" open>' in answer["html"]
    assert "&lt;script&gt;" in answer["html"] and "<script" not in answer["html"]


def test_preview_errors_are_the_apis_json_errors(api, owner, submitted):
    form, sub_id = submitted
    page = owner.get(f"/admin/forms/{form['id']}/integrations/new/webhook").text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    resp = owner.post(
        "/admin/plugins/webhook/preview",
        json={"config": {"url": "nope"}, "form_id": form["id"]},
        headers={"X-CSRFToken": token},
    )
    assert resp.status_code == 422 and "url" in resp.json["error"]["details"]["config"]
    missing = owner.post(
        "/admin/plugins/nope/preview",
        json={"config": {}, "form_id": form["id"]},
        headers={"X-CSRFToken": token},
    )
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"


def test_template_fields_offer_the_forms_fields_to_insert(api, owner):
    form = api.create_form("Orders", FIELDS)
    page = owner.get(f"/admin/forms/{form['id']}/integrations/new/slack").text
    picker = page.split('id="f-config-text-picker"', 1)[1].split("</ul>", 1)[0]
    inserts = [html.unescape(x) for x in re.findall(r'data-insert="([^"]*)"', picker)]
    assert inserts[:3] == ["{{ data.name }}", "{{ data.email }}", '{{ data["first-choice"] }}']
    assert "{{ form.name }}" in inserts
    assert (
        'aria-controls="f-config-text-picker"' in page
        and 'Insert field<span class="sr-only"> into Text' in page
    )
    email = owner.get(f"/admin/forms/{form['id']}/integrations/new/email").text
    for name in ("subject", "body", "html_body", "to", "reply_to"):  # templates, and lists of templates
        assert f'id="f-config-{name}-picker"' in email, name
    assert 'id="f-config-host-picker"' not in email  # not a template


def test_generated_secrets_say_they_are_shown_only_now_with_a_copy_button(api, owner):
    form = api.create_form("Orders", FIELDS)
    page = owner.get(f"/admin/forms/{form['id']}/integrations/new/webhook").text
    note = page.split('id="f-config-secret-generated"', 1)[1].split("</div>", 1)[0]
    assert "shown only now" in note and 'data-copy="#f-config-secret"' in note


def test_the_webhook_editor_shows_a_rotation_in_progress_and_not_a_finished_one(api, owner):
    form = api.create_form("Orders", FIELDS)
    made = api.add_plugin(
        form["id"], "webhook", {"url": "https://example.com/h", "secret": "whsec_" + "A" * 32}
    )
    rotated = api.patch(
        f"/api/plugin-configs/{made['id']}",
        {"config": {"url": "https://example.com/h", "secret": "whsec_" + "B" * 32}},
    )
    assert rotated.status_code == 200
    page = owner.get(f"/admin/integrations/{made['id']}").text
    state = re.search(r'<p class="notice plugin-state"[^>]*>(.*?)</p>', page, re.DOTALL).group(1)
    assert "Rotation in progress: the old signing secret still signs every delivery" in state
    assert "<time datetime=" in state
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    PluginConfig._get_collection().update_one(
        {"_id": ObjectId(made["id"])}, {"$set": {"config.previous_secret_expires_at": past}}
    )  # the grace period is over
    assert "plugin-state" not in owner.get(f"/admin/integrations/{made['id']}").text


def test_colours_are_colours_and_durations_say_their_unit(api, owner):
    form = api.create_form("Orders", FIELDS)
    discord = owner.get(f"/admin/forms/{form['id']}/integrations/new/discord").text
    assert re.search(r'<input id="f-config-color" type="color" value="#5865f2"', discord)
    assert 'data-kind="color"' in discord
    webhook = owner.get(f"/admin/forms/{form['id']}/integrations/new/webhook").text
    assert '<label for="f-config-timeout">Timeout (seconds)</label>' in webhook
    assert '<label for="f-config-secret_grace_hours">Secret grace (hours)</label>' in webhook
