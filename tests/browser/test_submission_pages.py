"""The submissions pages and the alerts in Chromium (issue 23 items 4 and 6): the edit form, bulk select,
the column chooser, rows that arrive without a reload, and alerts with their state; axe on each at 1280 and
390 px (0 critical, 0 serious)."""

from __future__ import annotations

import re
import time

import pytest
from bson import ObjectId
from playwright.sync_api import expect

from app.engine import alerts
from app.engine.alert_resolution import resolve_recovered
from app.models import PluginConfig, PluginExecutionLog
from tests.admin_ui.test_submission_actions import FIELDS
from tests.browser.axe_check import assert_no_serious_violations
from tests.browser.conftest import assert_accessible, login, shot

pytestmark = pytest.mark.browser

PEOPLE = [
    {"full_name": "Ada Lovelace", "email": "ada@example.com", "plan": "Pro", "seats": 3, "city": "London"},
    {"full_name": "Grace Hopper", "email": "grace@example.com", "plan": "Free", "city": "Arlington"},
    {"full_name": "Alan Turing", "email": "alan@example.com", "plan": "Pro", "city": "Wilmslow"},
]
WIDTHS = (1280, 390)


def _axe_at_both_widths(page, where: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert_no_serious_violations(page, f"{where} at {width} px")
        assert_accessible(page)
    page.set_viewport_size({"width": 1280, "height": 900})


def _submission(world, sub_id: str) -> dict:
    return world.api("GET", f"/api/submissions/{sub_id}").json()


def test_the_edit_form_shows_errors_by_the_field_and_saves_a_new_revision(page, world):
    form_id = world.create_form("Sign-ups", FIELDS)
    world.submit(form_id, PEOPLE[0])
    sub_id = world.api("GET", f"/api/forms/{form_id}/submissions").json()["items"][0]["id"]
    login(page, world.owner)
    page.goto(f"/admin/submissions/{sub_id}")
    page.get_by_text("Edit values").click()
    edit = page.locator("#edit form")
    expect(edit.get_by_label("Your name")).to_have_value("Ada Lovelace")
    expect(edit.get_by_label("Plan")).to_have_value("Pro")
    _axe_at_both_widths(page, "submission detail with its edit form open")

    edit.get_by_label("E-mail address").fill("not an address")
    edit.get_by_label("Town").fill("Paris")
    edit.get_by_role("button", name="Save changes").click()
    expect(page.locator("#err-data-email")).to_contain_text("Enter an e-mail address")
    expect(edit.get_by_label("E-mail address")).to_have_attribute("aria-invalid", "true")
    assert _submission(world, sub_id)["revision"] == 1  # nothing saved
    assert_no_serious_violations(page, "the edit form with an error")

    edit.get_by_label("E-mail address").fill("ada@lovelace.example")
    edit.get_by_role("button", name="Save changes").click()
    expect(page.locator("#flash")).to_contain_text("Saved as revision 2.")
    expect(page.locator("dl.facts.card")).to_contain_text(re.compile(r"Revision\s*2 \(edited"))
    expect(page.get_by_role("table", name="Every field of the submission")).to_contain_text("Paris")
    saved = _submission(world, sub_id)
    assert saved["revision"] == 2 and saved["data"]["city"] == "Paris"
    shot(page, "submission-edit", docs=True)


def test_a_viewer_sees_no_edit_form_and_no_bulk_actions(page, world):
    form_id = world.create_form("Sign-ups", FIELDS)
    world.submit(form_id, PEOPLE[0])
    sub_id = world.api("GET", f"/api/forms/{form_id}/submissions").json()["items"][0]["id"]
    login(page, world.viewer)
    page.goto(f"/admin/submissions/{sub_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("ada@example.com")
    expect(page.get_by_text("Edit values")).to_have_count(0)
    page.goto(f"/admin/forms/{form_id}/submissions")
    expect(page.locator("#submissions-table")).to_contain_text("Ada Lovelace")
    expect(page.get_by_label("Select all on this page")).to_have_count(0)


def test_bulk_select_deletes_and_resends_the_chosen_rows(page, world, sink):
    form_id = world.create_form("Sign-ups", FIELDS)
    world.add_webhook(form_id, f"{sink.url}/hook")
    for person in PEOPLE:
        world.submit(form_id, person)
    sink.wait_for(3)
    login(page, world.owner)
    page.goto(f"/admin/forms/{form_id}/submissions")
    bar = page.locator("[data-sub-bulk]")
    expect(bar.get_by_role("button", name="Delete selected")).to_be_disabled()
    bar.get_by_label("Select all on this page").check()
    expect(bar).to_contain_text("3 selected.")
    page.get_by_label(re.compile("Select submission grace@example.com")).uncheck()
    expect(bar).to_contain_text("2 selected.")
    _axe_at_both_widths(page, "submissions with rows selected")

    bar.get_by_role("button", name="Delete selected").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_contain_text("Delete 2 submissions?")
    dialog.get_by_role("button", name="Keep as is").click()  # the way back changes nothing
    expect(page.locator("tr[data-submission]")).to_have_count(3)
    bar.get_by_role("button", name="Delete selected").click()
    dialog.get_by_role("button", name="Delete 2 submissions").click()
    expect(page.locator("#submissions-status")).to_have_text("2 of 2 submissions deleted.")
    expect(page.locator("tr[data-submission]")).to_have_count(1)
    left = world.api("GET", f"/api/forms/{form_id}/submissions").json()["items"]
    assert [s["data"]["full_name"] for s in left] == ["Grace Hopper"]

    page.reload()
    page.get_by_label(re.compile("Select submission grace@example.com")).check()
    bar.get_by_role("button", name="Resend selected").click()
    dialog.get_by_role("button", name="Resend 1 submission").click()
    expect(page.locator("#submissions-status")).to_contain_text("1 of 1 submission queued to be sent again")
    resent = sink.wait_for(4, timeout=30)[3].json()  # (the webhook runs on new submissions only)
    assert resent["data"]["email"] == "grace@example.com"


def test_the_column_chooser_shows_labels_and_sorts_only_by_shown_columns(page, world):
    form_id = world.create_form("Sign-ups", FIELDS)
    for person in PEOPLE:
        world.submit(form_id, person)
    login(page, world.owner)
    page.goto(f"/admin/forms/{form_id}/submissions")
    headers = page.locator("#submissions-table thead th")
    expect(headers).to_contain_text(["Received", "Time", "Your name", "E-mail address", "Plan", "Seats"])
    chooser = page.locator(".column-chooser")
    chooser.get_by_text("Columns (4 of 8 fields)").click()
    _axe_at_both_widths(page, "submissions with the column chooser open")
    chooser.get_by_label("Plan").uncheck()
    chooser.get_by_label("Seats").uncheck()
    chooser.get_by_label("Town").check()
    page.get_by_role("button", name="Search").click()
    expect(headers).to_contain_text(["Received", "Time", "Your name", "E-mail address", "Town"])
    expect(page.locator("#submissions-table")).not_to_contain_text("Pro")
    sort = page.get_by_label("Sort by")
    options = sort.locator("option").all_inner_texts()
    assert "Town (A → Z)" in options and not any(o.startswith("Plan") for o in options)
    sort.select_option(label="Town (A → Z)")
    page.get_by_role("button", name="Search").click()
    towns = page.locator("#submissions-table td[data-label=Town]").all_inner_texts()
    assert towns == ["Arlington", "London", "Wilmslow"]
    assert "col=city" in page.url  # the choice is kept in the address (and so in links and reloads)
    page.reload()
    expect(headers).to_contain_text(["Received", "Time", "Your name", "E-mail address", "Town"])


def test_new_submissions_appear_without_a_reload(page, world):
    form_id = world.create_form("Sign-ups", FIELDS)
    login(page, world.owner)
    page.goto(f"/admin/forms/{form_id}/submissions")
    expect(page.get_by_text("No submissions yet.")).to_be_visible()
    _axe_at_both_widths(page, "an empty submissions list")
    world.submit(form_id, PEOPLE[0])
    rows = page.locator("#submissions-table tbody tr")
    expect(rows).to_have_count(1, timeout=15_000)
    expect(page.get_by_text("No submissions yet.")).to_be_hidden()
    world.submit(form_id, PEOPLE[1])
    world.submit(form_id, PEOPLE[2])
    expect(rows).to_have_count(3, timeout=15_000)
    expect(rows.first).to_contain_text("Alan Turing")  # newest first
    expect(page.locator("#submissions-live-status")).to_have_text("2 new submissions.")
    page.get_by_label(re.compile("Select submission alan@example.com")).check()  # the new rows work
    expect(page.locator("[data-sub-bulk]")).to_contain_text("1 selected.")
    _axe_at_both_widths(page, "submissions with live rows")


def _failing_alert(world) -> str:
    form_id = world.create_form("Leads")
    config_id = world.add_webhook(form_id, "http://127.0.0.1:9/hook", name="A rather long name for the CRM webhook")
    app = world.server.app
    with app.app_context():
        PluginExecutionLog(
            job_id=str(ObjectId()), config_id=config_id, form_id=form_id, workspace_id=world.workspace_id,
            attempt=1, status="failed", error_message="HTTP 503", response={"status_code": 503},
        ).save()
        circuit = {"state": "open", "failures": 10, "failing_since": time.time() - 30, "opened_at": 1.0,
                   "next_trial_at": time.time() + 3600}
        PluginConfig._get_collection().update_one({"_id": ObjectId(config_id)}, {"$set": {"circuit": circuit}})
        assert alerts.check(app.config)
    return config_id


def test_alerts_read_as_entries_and_are_acknowledged_then_resolved(page, world):
    config_id = _failing_alert(world)
    login(page, world.editor)
    page.goto("/admin/alerts")
    entry = page.locator(".alert-entry").first
    expect(entry).to_contain_text("keeps failing")
    expect(entry).to_contain_text("attempt 1 failed with HTTP 503")
    expect(entry.get_by_role("link", name=re.compile("^its log"))).to_have_attribute("href", re.compile("^/admin/jobs/"))
    expect(page.locator("#alerts-list pre")).to_have_count(0)
    expect(entry).to_contain_text("Open")
    _axe_at_both_widths(page, "alerts, open")

    entry.get_by_role("button", name=re.compile("^Acknowledge")).click()
    expect(page.locator("#alerts-status")).to_have_text("Acknowledged.")
    entry = page.locator(".alert-entry").first
    expect(entry).to_contain_text("Acknowledged")
    expect(entry).to_contain_text("by Editor")
    expect(entry.get_by_role("button", name=re.compile("^Acknowledge"))).to_have_count(0)

    app = world.server.app
    with app.app_context():
        PluginConfig._get_collection().update_one(
            {"_id": ObjectId(config_id)}, {"$set": {"circuit": {"state": "closed", "failures": 0}}}
        )
        resolve_recovered()
    expect(page.locator(".alert-entry").first).to_contain_text("Resolved", timeout=15_000)  # no reload
    _axe_at_both_widths(page, "alerts, resolved")
    shot(page, "alerts-state", docs=True)
