"""An integration behind an open circuit, as its owner sees it in Chromium: first on the dashboard with the
circuit in words and its delayed jobs, the card counting them, and Retry now sending them at once; axe on
each page at desktop and phone widths."""

from __future__ import annotations

import time

import pytest
from bson import ObjectId
from playwright.sync_api import expect

from app.models import PluginConfig, PluginJob
from tests.browser.axe_check import assert_no_serious_violations
from tests.browser.conftest import assert_accessible, login
from tests.support.wait import wait_until

pytestmark = pytest.mark.browser

WIDTHS = (1280, 390)


def _open_circuit(world, config_id: str) -> None:
    now = time.time()
    circuit = {"state": "open", "failures": 11, "cooldown": 900, "opened_at": now, "next_trial_at": now + 900}
    with world.server.app.app_context():
        PluginConfig._get_collection().update_one(
            {"_id": ObjectId(config_id)}, {"$set": {"circuit": circuit}}
        )


def _held(world, job_ids: list[str]) -> bool:
    """Every job was claimed and put back by the circuit until its cool-down ends."""
    with world.server.app.app_context():
        jobs = PluginJob.objects(id__in=job_ids).only("status", "scheduled_for")
        return all(j.status == "pending" and j.scheduled_for > time.time() + 60 for j in jobs)


def test_an_open_circuit_is_shown_first_in_words_and_retry_now_sends_its_jobs(page, world, sink):
    form_id = world.create_form("Orders")
    config_id = world.add_webhook(form_id, f"{sink.url}/crm", name="CRM webhook")
    _open_circuit(world, config_id)
    jobs = [world.submit(form_id, {"email": f"p{i}@example.com"})[0] for i in range(3)]
    wait_until(lambda: _held(world, jobs), what="the circuit to hold the jobs back")

    login(page, world.owner)
    trouble = page.get_by_role("region", name="Integrations failing or delayed now")
    expect(trouble).to_contain_text("CRM webhook")
    expect(trouble).to_contain_text("Deliveries paused after 11 failures in a row; next try at")
    statuses = page.get_by_role("region", name="Jobs in the last 24 hours")
    assert trouble.bounding_box()["y"] < statuses.bounding_box()["y"]  # first on the page
    expect(statuses.get_by_role("link", name="3 delayed now")).to_be_visible()
    expect(page.get_by_role("region", name="Last 7 days")).not_to_contain_text("100 %")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert_no_serious_violations(page, f"dashboard at {width} px")
        assert_accessible(page)
    page.set_viewport_size({"width": 1280, "height": 900})

    trouble.get_by_role("link", name="3 delayed jobs of CRM webhook").click()
    expect(page.locator("#flt-status")).to_have_value("delayed")
    expect(page.locator("#executions-table .badge", has_text="pending")).to_have_count(3)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert_no_serious_violations(page, f"delayed executions at {width} px")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto(f"/admin/forms/{form_id}")
    card = page.get_by_role("article", name="CRM webhook")
    expect(card).to_contain_text("(0 of 3; 3 delayed)")
    expect(card).to_contain_text("Deliveries paused after 11 failures in a row")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert_no_serious_violations(page, f"form page at {width} px")
        assert_accessible(page)
    page.set_viewport_size({"width": 1280, "height": 900})

    card.get_by_role("button", name="Retry now CRM webhook").click()
    expect(card.get_by_role("status")).to_contain_text("Trying now: 3 job(s) due at once.")
    sink.wait_for(3, timeout=30)
    wait_until(
        lambda: all(world.job(j)["status"] == "completed" for j in jobs), 30, 0.2, "the jobs to finish"
    )
    assert world.api("GET", f"/api/plugin-configs/{config_id}").json()["circuit"]["state"] == "closed"
