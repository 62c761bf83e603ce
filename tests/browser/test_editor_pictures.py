"""The integration editor in Chromium: the insert-field picker by keyboard, previews that look like the message
(the e-mail's HTML in a sandboxed frame the page's policy allows), a generated secret shown only now, and
axe at 1280 and 390 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.axe_check import assert_no_serious_violations
from tests.browser.conftest import assert_accessible, login, shot
from tests.plugins.peers.smtp import free_port

pytestmark = pytest.mark.browser

FIELDS = [
    {"name": "name", "label": "Your name"},
    {"name": "email", "type": "email", "label": "E-mail"},
    {"name": "plan", "type": "select", "options": ["Free", "Pro"], "label": "Plan"},
]
SCRIPT = "<script>document.title='pwned'</script>"


def test_the_picker_inserts_a_field_at_the_cursor_by_keyboard(page, world):
    form_id = world.create_form("Contact", FIELDS)
    login(page, world.editor)
    page.goto(f"/admin/forms/{form_id}/integrations/new/slack")
    text = page.get_by_label("Text", exact=True)
    text.fill("Hi there")
    text.press("Home")
    for _ in range(3):
        text.press("ArrowRight")  # the cursor after "Hi "
    page.keyboard.press("Shift+Tab")  # the picker's button sits just before the input
    toggle = page.get_by_role("button", name="Insert field into Text")
    expect(toggle).to_be_focused()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("button", name="Your name name")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("button", name="E-mail email")).to_be_focused()
    page.keyboard.press("Enter")
    expect(text).to_have_value("Hi {{ data.email }}there")
    expect(text).to_be_focused()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    page.keyboard.type("!")  # the cursor is after what was inserted
    expect(text).to_have_value("Hi {{ data.email }}!there")

    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")  # closes, back on the button, nothing inserted
    expect(toggle).to_be_focused()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(text).to_have_value("Hi {{ data.email }}!there")


def test_previews_look_like_the_message_and_run_nothing(page, world):
    form_id = world.create_form("Contact", FIELDS)
    world.submit(form_id, {"name": f"Ada {SCRIPT}", "email": "ada@example.com", "plan": "Pro"})
    login(page, world.editor)

    page.goto(f"/admin/forms/{form_id}/integrations/new/email")
    page.locator("#f-config-host").fill("smtp.example.com")
    page.locator("#f-config-from_address").fill("forms@example.com")
    page.locator("#f-config-to").fill("{{ data.email }}")
    page.get_by_label("Submission", exact=True).select_option(index=1)
    page.get_by_role("button", name="Show preview").click()
    frame = page.frame_locator("iframe.mail-frame")
    expect(frame.locator("h2")).to_have_text("New submission: Contact")  # the srcdoc frame is allowed
    expect(frame.locator("td").first).to_have_text(f"Ada {SCRIPT}")  # the value, as text
    expect(page.locator(".mail-text")).to_contain_text(f"Your name: Ada {SCRIPT}")
    expect(page.locator(".mail-headers")).to_contain_text("ada@example.com")
    expect(page.get_by_text("Raw JSON")).to_be_visible()
    assert page.title() != "pwned"
    page.locator("#preview").scroll_into_view_if_needed()
    shot(page, "editor-email-preview", docs=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert_no_serious_violations(page, f"e-mail preview at {width} px")
        assert_accessible(page)

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"/admin/forms/{form_id}/integrations/new/discord")
    page.get_by_label("Webhook URL").fill("https://discord.com/api/webhooks/1/abc")
    page.get_by_label("Content").fill("**{{ data.name }}** chose *{{ data.plan }}*")
    page.get_by_label("Color").fill("#ff0000")
    expect(page.locator("[data-color-hex]")).to_have_text("#ff0000")
    page.get_by_label("Submission", exact=True).select_option(index=1)
    page.get_by_role("button", name="Show preview").click()
    chat = page.locator(".chat")
    expect(chat.locator("strong").first).to_have_text(f"Ada {SCRIPT}")
    expect(chat.locator("em").first).to_have_text("Pro")
    expect(chat.locator(".chat-embed")).to_have_css("border-left-color", "rgb(255, 0, 0)")
    expect(chat.locator(".chat-embed dt").first).to_have_text("Your name")
    assert page.title() != "pwned"
    shot(page, "editor-discord-preview")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert_no_serious_violations(page, f"Discord preview at {width} px")
        assert_accessible(page)


def test_a_generated_secret_is_shown_only_now_and_a_failed_test_speaks_plainly(page, world):
    form_id = world.create_form("Contact", FIELDS)
    login(page, world.editor)
    page.goto(f"/admin/forms/{form_id}/integrations/new/webhook")
    note = page.locator("#f-config-secret-generated")
    expect(note).to_be_hidden()
    page.get_by_role("button", name="Generate a secret").click()
    expect(note).to_be_visible()
    expect(note).to_contain_text("shown only now")
    assert page.get_by_role("button", name="Insert field").count() == 0  # a webhook has no templates
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    note.get_by_role("button", name="Copy the secret").click()
    expect(page.locator("#flash")).to_contain_text("Copied")

    page.get_by_label("URL").fill(f"http://127.0.0.1:{free_port()}/hook")
    page.get_by_role("button", name="Test connection").click()
    result = page.locator("#test-result")
    expect(result).to_contain_text("Connection failed: Nothing is listening at 127.0.0.1:")
    result.get_by_text("Technical details").click()
    expect(result.locator("details code")).to_contain_text("Connection refused")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert_no_serious_violations(page, f"webhook editor with a generated secret at {width} px")
        assert_accessible(page)


def test_tab_leaves_an_open_picker_closed(page, world):
    form_id = world.create_form("Contact", FIELDS)
    login(page, world.editor)
    page.goto(f"/admin/forms/{form_id}/integrations/new/slack")
    toggle = page.get_by_role("button", name="Insert field into Text")
    toggle.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Your name name")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Text", exact=True)).to_be_focused()  # on to the input, the list closed
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#f-config-text-picker")).to_be_hidden()


@pytest.mark.parametrize(
    ("plugin_id", "url", "app_class"),
    [
        ("slack", "https://hooks.slack.com/services/T0/B0/x", "chat-app-slack"),
        ("teams", "https://example.webhook.office.com/webhookb2/x", "chat-app-microsoft-teams"),
    ],
)
def test_slack_and_teams_previews_are_a_picture_of_the_post(page, world, plugin_id, url, app_class):
    form_id = world.create_form("Contact", FIELDS)
    world.submit(form_id, {"name": f"Ada {SCRIPT}", "email": "ada@example.com", "plan": "Pro"})
    login(page, world.editor)
    page.goto(f"/admin/forms/{form_id}/integrations/new/{plugin_id}")
    page.locator("#f-config-webhook_url").fill(url)
    page.get_by_label("Submission", exact=True).select_option(index=1)
    page.get_by_role("button", name="Show preview").click()
    chat = page.locator(f".chat.{app_class}")
    expect(chat).to_contain_text(f"Ada {SCRIPT}")  # the value, as text
    expect(chat.locator(".chat-fields").first).to_contain_text("Your name")
    expect(page.get_by_text("Raw JSON")).to_be_visible()
    assert page.title() != "pwned"
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert_no_serious_violations(page, f"{plugin_id} preview at {width} px")
        assert_accessible(page)
