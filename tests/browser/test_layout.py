"""Every page at 375 px wide, labelled inputs, and keyboard-only use."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, login, shot
from tests.support.wait import wait_until

pytestmark = pytest.mark.browser


def test_every_page_works_at_375px(browser, world, sink):
    form_id = world.create_form("Contact us")
    config_id = world.add_webhook(form_id, f"{sink.url}/hook")
    [job_id] = world.submit(form_id, {"email": "ada@example.com"})
    wait_until(lambda: world.job(job_id)["status"] == "completed", what="the delivery")
    phone = browser.new_context(base_url=world.url, viewport={"width": 375, "height": 740}, is_mobile=True)
    page = phone.new_page()
    login(page, world.owner)
    pages = {
        "dashboard": "/admin/",
        "forms": "/admin/forms",
        "form": f"/admin/forms/{form_id}",
        "catalogue": f"/admin/forms/{form_id}/integrations/new",
        "integration": f"/admin/integrations/{config_id}",
        "executions": "/admin/executions",
        "attempts": "/admin/executions?view=attempts",
        "job": f"/admin/jobs/{job_id}",
        "members": "/admin/members",
        "tokens": "/admin/tokens",
        "hosted": f"/f/{form_id}",
    }
    for name, path in pages.items():
        assert page.goto(path).ok, path
        assert_accessible(page)
        shot(page, f"mobile-{name}")
    phone.close()


def _tab_until(page, predicate: str, limit: int = 80) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const el = document.activeElement; return {predicate}; }}"):
            return
    raise AssertionError(f"keyboard focus never reached: {predicate}")


MARK_CONTROLS = """
() => {
  const controls = Array.from(document.querySelectorAll(
    '#config-form input:not([type=hidden]), #config-form select, #config-form textarea, #config-form button'))
    .filter(el => el.offsetParent !== null && !el.disabled);
  controls.forEach((el, i) => { el.dataset.kb = String(i); });
  return controls.length;
}
"""


def test_a_form_and_an_integration_can_be_made_with_the_keyboard_only(page, world, sink):
    login(page, world.owner)
    page.goto("/admin/forms")
    _tab_until(page, "el.textContent.trim() === 'New form'")
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog")).to_be_visible()
    page.keyboard.type("Keyboard form")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/admin/forms/[0-9a-f]{24}$"))

    _tab_until(page, "el.textContent.trim() === 'Add integration'")
    page.keyboard.press("Enter")
    page.get_by_label("Search").focus()
    page.keyboard.type("signed")  # only the webhook (Teams and Discord post through webhooks too)
    _tab_until(page, "el.classList.contains('plugin-link')")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/integrations/new/webhook$"))

    # Every control of the settings form is reached by Tab, in order, without a trap.
    total = page.evaluate(MARK_CONTROLS)
    seen: set[str] = set()
    for _ in range(total + 20):
        page.keyboard.press("Tab")
        seen.add(page.evaluate("() => document.activeElement.dataset.kb || ''"))
        if seen >= {str(i) for i in range(total)}:
            break
    assert {str(i) for i in range(total)} - seen == set(), "some controls are not reachable with Tab"
    page.get_by_label("URL").focus()
    page.keyboard.type(f"{sink.url}/hook")
    page.keyboard.press("Enter")  # submits the form from a text field
    page.wait_for_url(re.compile(r"/admin/forms/[0-9a-f]{24}$"))
    expect(page.get_by_role("article", name="Webhook")).to_be_visible()
