"""Conditions, backfill, operations and alerts in Chromium, as a form owner uses them."""

from __future__ import annotations

import time

import pytest
from bson import ObjectId
from playwright.sync_api import expect

from app.engine import alerts
from app.models import PluginConfig
from tests.browser.conftest import login, shot
from tests.support.sink import Reply
from tests.support.wait import wait_until

pytestmark = pytest.mark.browser
FIELDS = [{"name": "email", "type": "email", "required": True}, {"name": "budget", "type": "number"}]


def test_an_owner_builds_conditions_checks_them_on_recent_submissions_and_saves(page, world, sink):
    form_id = world.create_form("Leads", FIELDS)
    config_id = world.add_webhook(form_id, f"{sink.url}/hook", name="Sales hook")
    for budget in (100, 20000, 30000):
        world.submit(form_id, {"email": "a@example.com", "budget": budget})
    login(page, world.owner)
    page.goto(f"/admin/integrations/{config_id}")
    conditions = page.locator("#conditions")
    conditions.get_by_role("button", name="Add a rule").click()
    conditions.get_by_label("Field").select_option("budget")
    conditions.get_by_label("Comparison").select_option("gt")
    conditions.get_by_label("Value").fill("lots")
    conditions.get_by_role("button", name="Save conditions").click()
    expect(conditions.locator("[data-rule-error]")).to_contain_text("number or a date")

    conditions.get_by_label("Value").fill("10000")
    conditions.get_by_role("button", name="Check recent submissions").click()
    expect(conditions).to_contain_text("Matches 2 of the 3 most recent submissions.")
    conditions.get_by_role("button", name="Save conditions").click()
    expect(conditions).to_contain_text("Conditions saved.")
    shot(page, "conditions", docs=True)
    saved = world.api("GET", f"/api/plugin-configs/{config_id}").json()["conditions"]
    assert saved == {"match": "all", "rules": [{"field": "budget", "op": "gt", "value": "10000"}], "on_edit": "always"}

    page.reload()
    expect(page.locator("#conditions").get_by_label("Value")).to_have_value("10000")
    world.submit(form_id, {"email": "b@example.com", "budget": 5})
    assert world.api("GET", f"/api/plugin-configs/{config_id}").json()["skipped_events"] == 1


def test_an_owner_counts_then_sends_existing_submissions_and_watches_it_finish(page, world, sink):
    form_id = world.create_form("Leads", FIELDS)
    for i in range(30):
        world.submit(form_id, {"email": f"u{i}@example.com", "budget": i})
    config_id = world.add_webhook(form_id, f"{sink.url}/late", name="Late hook")
    login(page, world.owner)
    page.goto(f"/admin/integrations/{config_id}")
    backfill = page.locator("form[data-operation]")
    backfill.get_by_role("button", name="Count").click()
    expect(backfill).to_contain_text("30 would be sent.")
    backfill.get_by_role("button", name="Start sending").click()
    page.wait_for_url("**/admin/operations")
    row = page.locator("tr[data-operation]").first
    expect(row).to_contain_text("Late hook")
    expect(row).to_contain_text("completed", timeout=20_000)  # the list follows the server by itself
    expect(row).to_contain_text("30 of 30")
    shot(page, "operations", docs=True)
    late = [r for r in sink.requests if r.path == "/late"]
    assert len({r.json()["submission_id"] for r in late}) == 30


def test_an_owner_replays_failed_deliveries_from_the_operations_page(page, world, sink):
    sink.responder = lambda req: Reply(400, b"bad")
    form_id = world.create_form("Leads", FIELDS)
    config_id = world.add_webhook(form_id, f"{sink.url}/flaky", name="Flaky hook")
    jobs = [world.submit(form_id, {"email": f"u{i}@example.com"})[0] for i in range(3)]
    wait_until(lambda: all(world.job(j)["status"] == "failed" for j in jobs), timeout=20, what="3 failed jobs")
    sink.responder = lambda req: Reply(200)
    login(page, world.owner)
    page.goto("/admin/operations")
    replay = page.locator("form[data-operation]")
    replay.get_by_label("Of the integration").select_option(config_id)
    replay.get_by_role("button", name="Count").click()
    expect(replay).to_contain_text("3 would be sent.")
    replay.get_by_role("button", name="Start replay").click()
    expect(page.locator("tr[data-operation]").first).to_contain_text("completed", timeout=20_000)
    wait_until(lambda: all(world.job(j)["status"] == "completed" for j in jobs), timeout=20, what="resent")


def test_an_owner_mutes_an_integration_and_chooses_where_alerts_go(page, world, sink):
    form_id = world.create_form("Leads", FIELDS)
    config_id = world.add_webhook(form_id, f"{sink.url}/hook", name="CRM hook")
    login(page, world.owner)
    page.goto(f"/admin/integrations/{config_id}")
    page.get_by_label("Mute failure alerts for this integration").check()
    page.locator("#f-alerts-muted").locator("xpath=ancestor::form").get_by_role("button", name="Save").click()
    expect(page.locator("#mute-status")).to_contain_text("Saved.")
    assert world.api("GET", f"/api/plugin-configs/{config_id}").json()["alerts_muted"] is True

    other = world.add_webhook(form_id, f"{sink.url}/other", name="Billing hook")
    app = world.server.app
    with app.app_context():
        PluginConfig._get_collection().update_one(
            {"_id": ObjectId(other)},
            {"$set": {"circuit": {"state": "open", "failures": 10, "failing_since": time.time(), "opened_at": 1.0}}},
        )
        [raised] = alerts.check(app.config)
    page.goto("/admin/alerts")
    expect(page.locator("#alerts-list")).to_contain_text("Integration 'Billing hook' keeps failing")
    settings = page.locator("section", has=page.get_by_role("heading", name="Where alerts of Acme go"))
    settings.get_by_label("E-mail the owners").uncheck()
    settings.get_by_label("A daily digest of the integrations that failed").check()
    settings.get_by_role("button", name="Save").click()
    expect(settings).to_contain_text("Saved.")
    shot(page, "alerts", docs=True)
    chosen = world.api("GET", f"/api/workspaces/{world.workspace_id}/alert-settings").json()
    assert (chosen["email"], chosen["digest"]) == (False, True)
    assert str(raised.config_id) == other
