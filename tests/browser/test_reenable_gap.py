"""Switching an integration back on, in Chromium: the form page offers to send the submissions that arrived
while it was off, and sending them delivers exactly those; axe at desktop and phone widths with the offer."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.axe_check import assert_no_serious_violations
from tests.browser.conftest import assert_accessible, login

pytestmark = pytest.mark.browser


def test_switching_on_offers_and_sends_the_submissions_missed_while_off(page, world, sink):
    form_id = world.create_form("Orders")
    world.add_webhook(form_id, f"{sink.url}/crm", name="CRM webhook")
    world.submit(form_id, {"email": "before@example.com"})
    sink.wait_for(1)
    login(page, world.owner)
    page.goto(f"/admin/forms/{form_id}")
    card = page.get_by_role("article", name="CRM webhook")
    switch = card.get_by_role("switch")
    switch.uncheck()
    expect(card.get_by_role("status")).to_contain_text("enabled is now off")
    missed = ["gap1@example.com", "gap2@example.com"]
    for email in missed:
        assert world.submit(form_id, {"email": email}) == []  # no job while it is off

    switch.check()
    expect(card).to_contain_text("2 submissions arrived while it was off.")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert_no_serious_violations(page, f"form page with the offer at {width} px")
        assert_accessible(page)
    card.get_by_role("button", name="Send these 2 now").click()
    expect(card.get_by_role("status")).to_contain_text("Sending the submissions received while it was off")
    delivered = sink.wait_for(3, timeout=30)
    bodies = [req.body.decode() for req in delivered[1:]]
    assert sorted(e for e in missed if any(e in b for b in bodies)) == missed
    assert not any("before@example.com" in b for b in bodies)  # not sent twice


def test_switching_on_in_the_settings_offers_the_gap_too(page, world, sink):
    form_id = world.create_form("Orders")
    config_id = world.add_webhook(form_id, f"{sink.url}/crm", name="CRM webhook")
    assert world.api("PATCH", f"/api/plugin-configs/{config_id}", json={"enabled": False}).status_code == 200
    assert world.submit(form_id, {"email": "gap@example.com"}) == []
    login(page, world.owner)
    page.goto(f"/admin/integrations/{config_id}")
    page.get_by_label("Enabled").check()
    page.get_by_role("button", name="Save changes").click()
    settings = page.locator("#config-form")
    expect(settings).to_contain_text("1 submission arrived while it was off.")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert_no_serious_violations(page, f"integration settings with the offer at {width} px")
    settings.get_by_role("button", name="Send it now").click()
    expect(page.locator("#config-status")).to_contain_text(
        "Sending the submissions received while it was off"
    )
    [delivered] = sink.wait_for(1, timeout=30)
    assert "gap@example.com" in delivered.body.decode()
