"""In Chromium: show deleted submissions, restore one, purge one (after confirming), set a form's retention
(a bad value shows its error), and erase an address from the Members page (its record shows it masked); axe on
both Data removals sections with rows in them at 1280 and 390 px (0 critical, 0 serious)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.axe_check import assert_no_serious_violations
from tests.browser.conftest import assert_accessible, login

pytestmark = pytest.mark.browser


def _submission(world, form_id: str, email: str) -> str:
    world.submit(form_id, {"email": email})
    found = world.api("GET", f"/api/forms/{form_id}/submissions").json()["items"]
    return next(s["id"] for s in found if s["data"]["email"] == email)


def _axe_at_both_widths(page, where: str) -> None:
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert_no_serious_violations(page, f"{where} at {width} px")
        assert_accessible(page)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_restore_purge_retention_and_erasure_in_the_browser(page, world):
    form_id = world.create_form()
    kept, purged = (_submission(world, form_id, f"{name}@example.com") for name in ("kept", "purged"))
    for sub_id in (kept, purged):
        assert world.api("DELETE", f"/api/submissions/{sub_id}").status_code == 200
    login(page, world.owner)

    page.goto(f"/admin/forms/{form_id}/submissions")
    expect(page.locator(f'tr[data-submission="{kept}"]')).to_have_count(0)
    page.get_by_role("link", name="Show deleted submissions too").click()
    row = page.locator(f'tr[data-submission="{kept}"]')
    row.get_by_role("button", name=re.compile("^Restore")).click()
    expect(page.locator(f'tr[data-submission="{kept}"] .badge')).to_have_count(0)
    page.locator(f'tr[data-submission="{purged}"]').get_by_role("button", name=re.compile("^Purge")).click()
    page.locator("#confirm-ok").click()  # the confirmation
    expect(page.locator(f'tr[data-submission="{purged}"]')).to_have_count(0)
    assert world.api("GET", f"/api/submissions/{purged}").status_code == 404
    assert world.api("GET", f"/api/submissions/{kept}").json()["deleted"] is False

    page.goto(f"/admin/forms/{form_id}")
    page.get_by_text("Intake settings").click()
    days = page.get_by_label("Keep submissions for (days)")
    days.fill("0")
    page.get_by_role("button", name="Save retention").click()
    expect(page.locator("#err-retention_days")).to_contain_text("from 1 to 3650")
    days.fill("30")
    page.get_by_role("button", name="Save retention").click()
    expect(page.locator("#removals-h + p")).to_contain_text("older than 30 days are removed")
    expect(page.locator("#removals-table")).to_contain_text("Purge of deleted submissions")
    _axe_at_both_widths(page, "the form's data removals")

    page.goto("/admin/members")
    page.get_by_label("E-mail address").fill("KEPT@example.com")
    page.get_by_role("button", name="Erase", exact=True).click()
    expect(page.locator("#confirm-message")).to_contain_text("cannot be undone")
    page.locator("#confirm-ok").click()
    expect(page.locator("#removals-table tr", has_text="Erasure of")).to_have_count(1)  # (the page reloaded)

    def erased() -> bool:
        page.goto("/admin/members")
        rows = page.locator("#removals-table tr", has_text="Erasure of")
        return rows.count() == 1 and "1 submission " in rows.inner_text()

    for _ in range(100):
        if erased():
            break
        page.wait_for_timeout(200)  # polling the page for the background operation, not synchronisation
    table = page.locator("#removals-table").inner_text()
    assert "Erasure of K***@example.com" in table and "kept@" not in table.casefold()
    _axe_at_both_widths(page, "the workspace's data removals")
    assert world.api("GET", f"/api/submissions/{kept}").status_code == 404
