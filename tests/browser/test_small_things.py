"""Small things that cost trust (issue 23 item 6), in Chromium: a dialog whose buttons say what they do,
an invitation link that does not stay in the address bar, and a hosted form that speaks plainly and keeps
bots out; axe on the pages at desktop and phone widths."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from app.hosted import spam
from app.models import Operation
from tests.browser.axe_check import assert_no_serious_violations
from tests.browser.conftest import assert_accessible, login

pytestmark = pytest.mark.browser
WIDTHS = (1280, 390)


def _running_backfill(world, config_id: str, form_id: str) -> str:
    """A backfill another process is working on (its lease held elsewhere), so it stays running."""
    with world.server.app.app_context():
        op = Operation(
            workspace_id=world.workspace_id,
            kind="backfill",
            params={"config_id": config_id, "form_id": form_id},
            config_ids=[config_id],
            lease_owner="another-process",
            lease_expires_at=time.time() + 3600,
        ).save()
    return str(op.id)


def test_the_cancel_dialog_says_keep_it_or_cancel_the_backfill(page, world, sink):
    form_id = world.create_form("Leads")
    config_id = world.add_webhook(form_id, f"{sink.url}/hook")
    op_id = _running_backfill(world, config_id, form_id)
    login(page, world.owner)
    page.goto("/admin/operations")
    page.locator(f'tr[data-operation="{op_id}"]').get_by_role("button", name="Cancel").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("button")).to_have_text(["Keep it running", "Cancel backfill"])
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert_no_serious_violations(page, f"cancel dialog at {width} px")
    dialog.get_by_role("button", name="Keep it running").click()
    expect(dialog).to_be_hidden()
    assert world.api("GET", f"/api/operations/{op_id}").json()["status"] == "running"

    page.locator(f'tr[data-operation="{op_id}"]').get_by_role("button", name="Cancel").click()
    dialog.get_by_role("button", name="Cancel backfill").click()
    expect(page.locator(f'tr[data-operation="{op_id}"]')).to_contain_text("cancelled")


def test_an_accepted_invitation_leaves_no_spent_link_behind(browser, world):
    invited = world.api(
        "POST",
        f"/api/workspaces/{world.workspace_id}/invitations",
        json={"email": "new@acme.test", "role": "viewer"},
    )
    assert invited.status_code == 201, invited.text
    link = invited.json()["link"]
    context = browser.new_context(base_url=world.url)
    try:
        page = context.new_page()
        page.goto("/admin/login")  # something before the link, as a mail client's page would be
        page.goto(link)
        page.get_by_label("Password").fill("my very own password")
        page.get_by_role("button", name="Accept the invitation").click()
        page.wait_for_url(f"{world.url}/admin/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
        page.go_back()  # to the page before the link: the link's entry was replaced by the dashboard
        assert "/admin/invite/" not in page.url
        expect(page.get_by_role("heading", level=1)).not_to_have_text("Invitation")
    finally:
        context.close()


def test_the_hosted_form_speaks_plainly_and_asks_a_too_quick_sender_to_send_again(
    browser, world, monkeypatch
):
    form_id = world.create_form(
        "Sign up",
        [
            {"name": "name", "label": "Full name", "type": "text", "required": True},
            {"name": "email", "label": "Email", "type": "email", "required": True},
        ],
    )
    world.server.app.config["HOSTED_MIN_SECONDS"] = 30
    context = browser.new_context(base_url=world.url)
    try:
        page = context.new_page()
        page.goto(f"/f/{form_id}")
        # the server's own checks, as an older browser (no built-in validation) meets them
        page.locator("form.fh-form").evaluate("form => form.noValidate = true")
        expect(page.get_by_label("Leave this empty")).to_have_count(1)  # there, but not for people
        expect(page.get_by_role("textbox", name="Leave this empty")).to_have_count(0)
        page.get_by_label("Email").fill("not an address")
        page.get_by_label("Full name").fill("Ada Lovelace")
        page.get_by_role("button", name="Send").click()  # at once: sooner than a person could
        expect(page.get_by_role("alert")).to_contain_text("That was quick! Please check your answers")
        expect(page.get_by_label("Full name")).to_have_value("Ada Lovelace")

        monkeypatch.setattr(spam, "clock", lambda: time.time() + 60)  # the person takes their time
        page.locator("form.fh-form").evaluate("form => form.noValidate = true")
        page.get_by_label("Full name").fill("")
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#fh-name-error")).to_have_text("Please fill in Full name.")
        expect(page.locator("#fh-email-error")).to_have_text(
            "Please enter an email address for Email, like name@example.com."
        )
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            assert_no_serious_violations(page, f"hosted form with errors at {width} px")
            assert_accessible(page)
        page.get_by_label("Full name").fill("Ada Lovelace")
        page.get_by_label("Email").fill("ada@example.com")
        page.get_by_role("button", name="Send").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Thank you!")
    finally:
        context.close()
    [sub] = world.api("GET", f"/api/forms/{form_id}/submissions").json()["items"]
    assert sub["data"] == {"name": "Ada Lovelace", "email": "ada@example.com"}
