"""The results summary page: a viewer picks a range and reads charts with their numbers one click away;
axe finds nothing critical or serious at 1280 and 390 px. The figures come from the scheduler's indexer."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from tests.browser.axe_check import assert_no_serious_violations
from tests.browser.conftest import assert_accessible, login, shot
from tests.support.wait import wait_until

pytestmark = pytest.mark.browser

FIELDS = [
    {"name": "plan", "label": "Plan", "type": "select", "options": ["Free", "Team", "Business"]},
    {"name": "newsletter", "label": "Newsletter", "type": "checkbox"},
    {"name": "seats", "label": "Seats", "type": "number"},
    {"name": "company", "label": "Company", "type": "text"},
]
ROWS = [
    {"plan": "Team", "newsletter": True, "seats": 5, "company": "Acme"},
    {"plan": "Team", "newsletter": False, "seats": 12, "company": "Globex"},
    {"plan": "Free", "seats": 1, "company": "Acme"},
    {"plan": "Business", "newsletter": True, "seats": 40},
    {"plan": "Team", "newsletter": True, "seats": 7, "company": "Initech"},
]


@pytest.mark.parametrize("width", [1280, 390])
def test_a_viewer_reads_a_forms_results_summary(page, world, width):
    form_id = world.create_form("Sign-ups", FIELDS)
    for row in ROWS:
        world.submit(form_id, row)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    wait_until(  # the scheduler's indexer counts them within INDEX_INTERVAL
        lambda: world.api("GET", f"/api/forms/{form_id}/summary?from={today}&to={today}", world.viewer).json()["total"]
        == len(ROWS),
        what="the indexer counted the submissions",
    )
    page.set_viewport_size({"width": width, "height": 900})
    login(page, world.viewer)
    page.goto(f"/admin/forms/{form_id}")
    page.get_by_role("link", name="Results summary").click()
    expect(page.get_by_role("heading", name="Results of Sign-ups")).to_be_visible()
    page.get_by_label("From", exact=True).fill(today)
    page.get_by_label("To", exact=True).fill(today)
    page.get_by_role("button", name="Show").click()
    expect(page.locator("[data-summary-total]")).to_have_text("5")

    plan = page.locator("[data-summary-field=plan]")
    plan.get_by_text("Show the numbers").click()
    rows = plan.locator("tbody tr")
    assert [rows.nth(i).inner_text().split("\t") for i in range(3)] == [
        ["Free", "1", "20 %"],
        ["Team", "3", "60 %"],
        ["Business", "1", "20 %"],
    ]
    seats = page.locator("[data-summary-field=seats]")
    expect(seats.get_by_text("median (approximate)")).to_be_visible()
    expect(seats.locator(".stat-value").first).to_have_text("≈ 7")
    company = page.locator("[data-summary-field=company]")
    expect(company).to_contain_text("answered by 4 of 5 (80 %)")
    expect(company.locator("tbody tr").first).to_contain_text("Acme")

    assert_accessible(page)
    assert_no_serious_violations(page, f"results summary at {width} px")
    shot(page, f"form-summary-{width}")

    page.goto(f"/admin/forms/{world.other_form_id}/summary")  # another workspace's form
    expect(page.get_by_role("heading", name="Results of Globex secrets")).to_have_count(0)
