"""Operations and alerts at phone width with real rows in them: nothing wider than the screen, and no
serious axe rule (the alert's text once sat in a scrolling box no keyboard could reach)."""

from __future__ import annotations

import time

import pytest
from bson import ObjectId
from playwright.sync_api import expect

from app.engine import alerts
from app.models import PluginConfig, PluginExecutionLog
from tests.browser.axe_check import assert_no_serious_violations
from tests.browser.conftest import assert_accessible, login
from tests.browser.test_small_things import _running_backfill

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [390, 1280])
def test_operations_and_alerts_with_rows_fit_a_phone(page, world, sink, width):
    form_id = world.create_form("Leads")
    config_id = world.add_webhook(form_id, f"{sink.url}/hook", name="A rather long name for the CRM webhook")
    _running_backfill(world, config_id, form_id)
    app = world.server.app
    with app.app_context():
        PluginExecutionLog(
            job_id=str(ObjectId()),
            config_id=config_id,
            form_id=form_id,
            workspace_id=world.workspace_id,
            attempt=1,
            status="failed",
            error_message="HTTP 503 Service Unavailable",
        ).save()
        circuit = {"state": "open", "failures": 10, "failing_since": time.time() - 30, "opened_at": 1.0}
        PluginConfig._get_collection().update_one(
            {"_id": ObjectId(config_id)}, {"$set": {"circuit": circuit}}
        )
        assert alerts.check(app.config)
    login(page, world.owner)
    page.set_viewport_size({"width": width, "height": 900})
    for url, row in (("/admin/operations", "Backfill"), ("/admin/alerts", "keeps failing")):
        page.goto(url)
        expect(page.locator("main")).to_contain_text(row)
        assert_no_serious_violations(page, f"{url} at {width} px")
        assert_accessible(page)


def test_on_a_phone_the_menu_folds_behind_a_button(page, world):
    login(page, world.owner)
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto("/admin/")
    menu = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Main")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()
    assert page.locator(".topbar").bounding_box()["height"] < 70  # was about 150 px of links
    assert_no_serious_violations(page, "dashboard at 390 px, menu closed")
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    assert_no_serious_violations(page, "dashboard at 390 px, menu open")
    assert_accessible(page)
    nav.get_by_role("link", name="Executions").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Executions")

    page.set_viewport_size({"width": 1280, "height": 800})
    expect(menu).to_be_hidden()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
