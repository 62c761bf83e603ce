"""The hosted form page with every field type, in a browser with JavaScript switched off."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, shot
from tests.support.wait import wait_until

pytestmark = pytest.mark.browser

FIELDS = [
    {"name": "name", "label": "Full name", "type": "text", "required": True},
    {"name": "email", "label": "Email", "type": "email", "required": True},
    {"name": "age", "label": "Age", "type": "number"},
    {"name": "plan", "label": "Plan", "type": "select", "options": ["Free", "Pro"], "required": True},
    {"name": "start", "label": "Start date", "type": "date"},
    {"name": "site", "label": "Website", "type": "url"},
    {"name": "phone", "label": "Phone", "type": "tel"},
    {"name": "notes", "label": "Notes", "type": "textarea"},
    {"name": "terms", "label": "I accept the terms", "type": "checkbox", "required": True},
    {"name": "news", "label": "Send me news", "type": "checkbox"},
]


def test_every_field_type_posts_without_javascript(browser, world):
    form_id = world.create_form("Sign up", FIELDS)
    ctx = browser.new_context(
        base_url=world.url, java_script_enabled=False, viewport={"width": 375, "height": 800}
    )
    page = ctx.new_page()
    page.goto(f"/f/{form_id}")
    assert_accessible(page)
    for field in FIELDS:
        expect(page.get_by_label(field["label"])).to_be_visible()
    expect(page.get_by_label("Full name")).to_have_attribute("required", "")
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Age").fill("36")
    page.get_by_label("Plan").select_option("Pro")
    page.get_by_label("Start date").fill("2024-05-01")
    page.get_by_label("Phone").fill("+44 20 7946 0000")
    page.get_by_label("I accept the terms").check()
    shot(page, "hosted-all-fields")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you!")
    ctx.close()

    subs = wait_until(
        lambda: world.api("GET", f"/api/forms/{form_id}/submissions").json()["items"], what="the submission"
    )
    assert subs[0]["data"] == {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "age": 36.0,
        "plan": "Pro",
        "start": "2024-05-01",
        "phone": "+44 20 7946 0000",
        "terms": True,
    }


def test_an_unknown_form_shows_a_not_found_page(page, world):
    response = page.goto("/f/0123456789abcdef01234567")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Form not found")
