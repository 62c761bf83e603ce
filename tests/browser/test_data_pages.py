"""The submissions browser, live executions, the dashboard's range picker and the integration editor, in
Chromium (issue 14). Screenshots for docs/screenshots: FH_DOCS_SCREENSHOTS=1."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time

import pytest
from bson import ObjectId
from openpyxl import load_workbook
from playwright.sync_api import expect

from app.models import PluginJob, Submission, search_terms
from tests.browser.axe_check import assert_no_serious_violations
from tests.browser.conftest import WAIT_MS, assert_accessible, login, shot
from tests.support.seed import insert_many

pytestmark = pytest.mark.browser

FIELDS = [
    {"name": "name", "label": "Your name", "type": "text", "required": True},
    {"name": "email", "label": "Email", "type": "email", "required": True},
    {"name": "plan", "label": "Plan", "type": "select", "options": ["Free", "Pro"]},
]
EXPORTED = 10_000


def _seed(world, form_id: str, n: int) -> None:
    """``n`` older submissions written as the intake leaves them, one minute apart."""
    start = dt.datetime(2026, 1, 1, 9)
    docs = [
        {
            "_id": ObjectId(),
            "form_id": form_id,
            "workspace_id": world.workspace_id,
            "data": {  # (the first name holds a line break: still one row of the export)
                "name": f"Person {i}" + ("\nZoë 美咲" if i == 0 else ""),
                "email": f"person{i}@example.com",
                "plan": "Free",
            },
            "revision": 1,
            "deleted": False,
            "created_at": start + dt.timedelta(minutes=i),
        }
        for i in range(n)
    ]
    with world.server.app.app_context():
        insert_many(Submission._get_collection(), docs)
        search_terms.reindex(docs)  # (as the intake indexes them)


def _pending_job(world, form_id: str, like: str) -> str:
    """A copy of job ``like`` that is due tomorrow (so the scheduler leaves it pending)."""
    with world.server.app.app_context():
        coll = PluginJob._get_collection()
        doc = coll.find_one({"_id": ObjectId(like)})
        oid = ObjectId()
        doc.update(
            _id=oid,
            status="pending",
            attempts=0,
            scheduled_for=time.time() + 86400,
            dispatch_key=f"later:{oid}",
            idempotency_key=f"msg_{oid}",
            created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        )
        coll.insert_one(doc)
    return str(oid)


@pytest.mark.heavy(seconds=25)
def test_browse_search_export_resend_and_delete_submissions(page, world, sink, tmp_path):
    form_id = world.create_form("Sign-ups", FIELDS)
    resp = world.api(
        "POST",
        f"/api/forms/{form_id}/plugins",
        json={
            "plugin_id": "webhook",
            "name": "CRM hook",
            "config": {"url": f"{sink.url}/crm"},
            "trigger_events": ["form.submitted", "response.deleted"],
        },
    )
    assert resp.status_code == 201, resp.text
    _seed(world, form_id, EXPORTED - 2)
    world.submit(form_id, {"name": "Ada Lovelace", "email": "ada@example.com", "plan": "Pro"})
    world.submit(form_id, {"name": "Grace Hopper", "email": "grace@example.com", "plan": "Pro"})
    sink.wait_for(2)

    login(page, world.owner)
    page.goto(f"/admin/forms/{form_id}/submissions")
    rows = page.locator("#submissions-table tbody tr")
    expect(rows).to_have_count(25)
    expect(rows.first).to_contain_text("grace@example.com")  # newest first
    page.get_by_role("link", name="Next page →").click()
    expect(page.get_by_role("link", name="← Previous page")).to_be_visible()
    page.get_by_role("link", name="← Previous page").click()
    expect(rows.first).to_contain_text("grace@example.com")

    page.get_by_role("searchbox", name="Search").fill("lovelace")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ada@example.com")
    assert_no_serious_violations(page, "submissions browser")
    shot(page, "submissions-browser", docs=True)

    # A field filter, a date range (the seeded ones are from January 2026) and sorting.
    page.goto(f"/admin/forms/{form_id}/submissions")
    page.get_by_label("Field", exact=True).select_option("plan")
    page.get_by_label("Field contains").fill("pro")
    page.get_by_label("Sort by").select_option("name:asc")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Ada Lovelace")
    page.goto(f"/admin/forms/{form_id}/submissions?from=2026-01-01&to=2026-01-01&sort=oldest")
    expect(rows.first).to_contain_text("Person 0")

    # The export streams the current filter (here: everything) with a progress indication.
    page.goto(f"/admin/forms/{form_id}/submissions")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    expect(page.locator("#export-count")).to_have_text(f"Exported {EXPORTED:,} rows.")
    saved = tmp_path / "export.csv"
    download.value.save_as(saved)
    table = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8"))))
    name = table[0].index("name")
    assert len(table) == EXPORTED + 1 and "Person 0\nZoë 美咲" in {row[name] for row in table}
    with page.expect_download() as download:  # an XLSX (a zip: counted in megabytes) opens with every row
        page.get_by_role("link", name="Excel (XLSX)").click()
    expect(page.locator("#export-count")).to_have_text(re.compile(r"^Exported [0-9.]+ MB\.$"))
    download.value.save_as(tmp_path / "export.xlsx")
    sheet = load_workbook(tmp_path / "export.xlsx", read_only=True).worksheets[0]
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert cells[0] == table[0] and len(cells) == EXPORTED + 1 and "Person 0\nZoë 美咲" in {r[name] for r in cells}

    # The detail: every field, the delivery and its attempt; resend to one integration; delete.
    page.get_by_role("link", name=re.compile("Open submission")).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("grace@example.com")
    expect(page.get_by_role("region", name="Fields")).to_contain_text("Grace Hopper")
    deliveries = page.get_by_role("region", name="Deliveries")
    expect(deliveries.locator("article")).to_contain_text("CRM hook")
    expect(deliveries.locator("article")).to_contain_text("completed")
    assert_no_serious_violations(page, "submission detail")
    shot(page, "submission-detail", docs=True)
    page.get_by_role("button", name="Resend to CRM hook").click()
    page.get_by_role("dialog").get_by_role("button", name="Resend").click()
    sink.wait_for(3)
    assert sink.requests[2].json()["data"]["email"] == "grace@example.com"

    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete submission").click()
    page.wait_for_url(re.compile(rf"/admin/forms/{form_id}/submissions$"))
    deleted = sink.wait_for(4)[3].json()
    assert deleted["event"] == "response.deleted" and deleted["data"]["email"] == "grace@example.com"
    expect(rows.first).to_contain_text("ada@example.com")


def test_executions_follow_the_server_live_with_times_in_the_viewers_zone(browser, world, sink):
    form_id = world.create_form("Orders", FIELDS)
    world.add_webhook(form_id, f"{sink.url}/hook", name="Orders hook")
    ctx = browser.new_context(
        base_url=world.url, timezone_id="Asia/Tokyo", viewport={"width": 1280, "height": 900}
    )
    ctx.set_default_timeout(WAIT_MS)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    login(page, world.owner)

    # An empty list fills in by itself.
    page.goto("/admin/executions?view=jobs")
    expect(page.locator("#executions-table")).to_contain_text("Nothing matches these filters.")
    [job_id] = world.submit(form_id, {"name": "Ada", "email": "ada@example.com"})
    row = page.locator(f'tr[data-job="{job_id}"]')
    expect(row).to_contain_text("ada@example.com", timeout=15_000)
    expect(row.locator(".badge")).to_have_text("completed", timeout=15_000)
    expect(row.locator("time[data-absolute]")).to_have_attribute("title", re.compile(r"GMT\+9"))
    tokyo = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=9)))
    expect(row.locator("time[data-absolute]")).to_contain_text(tokyo.strftime("%b %-d"))
    row.get_by_role("link", name="ada@example.com").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("ada@example.com")

    # Bulk: select the job and send it again.
    page.goto("/admin/executions?view=jobs")
    page.get_by_role("checkbox", name=f"Select job {job_id}").check()
    page.get_by_role("button", name="Retry selected").click()
    page.get_by_role("dialog").get_by_role("button", name="Retry selected").click()
    expect(page.locator("#executions-status")).to_have_text("1 job queued again.")
    sink.wait_for(2)

    # A job due tomorrow is pending: select it and cancel it.
    later = _pending_job(world, form_id, job_id)
    page.reload()
    page.get_by_role("checkbox", name=f"Select job {later}").check()
    page.get_by_role("button", name="Cancel selected").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel selected").click()
    expect(page.locator(f'tr[data-job="{later}"] .badge')).to_have_text("cancelled")

    # The dashboard buckets days in Tokyo; the range picker switches between hours and days.
    page.goto("/admin/")
    expect(page.locator("[data-zone]")).to_have_attribute("data-zone", "Asia/Tokyo")
    bars = page.locator("#success-chart .bar rect")
    expect(bars).to_have_count(7)
    page.get_by_role("navigation", name="Range").get_by_role("link", name="30 days").click()
    expect(bars).to_have_count(30)
    page.get_by_role("navigation", name="Range").get_by_role("link", name="24 hours").click()
    expect(bars).to_have_count(24)
    expect(page.get_by_role("region", name="Integrations", exact=True)).to_contain_text("Orders hook")
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("navigation", name="Range").get_by_role("link", name="7 days").click()
    expect(bars).to_have_count(7)  # the new page is in (checking the one still leaving can find no document)
    assert_accessible(page)
    assert_no_serious_violations(page, "dashboard at 390 px")
    shot(page, "dashboard-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    shot(page, "dashboard-ranges")

    # The form's integration cards follow deliveries too.
    page.goto(f"/admin/forms/{form_id}")
    card = page.get_by_role("article", name="Orders hook")
    expect(card).to_contain_text("(1 of 1)")
    world.submit(form_id, {"name": "Grace", "email": "grace@example.com"})
    expect(card).to_contain_text("(2 of 2)", timeout=15_000)
    ctx.close()
    assert errors == []


def test_the_editor_generates_secrets_previews_and_warns_before_leaving(page, world, sink, browser):
    form_id = world.create_form("Contact", FIELDS)
    world.submit(form_id, {"name": "Ada Lovelace", "email": "ada@example.com", "plan": "Pro"})
    login(page, world.owner)
    page.goto(f"/admin/forms/{form_id}/integrations/new/webhook")
    expect(page.get_by_role("group", name="Security")).to_be_visible()
    expect(page.locator("#f-config-timeout-unit")).to_have_text("seconds")
    page.get_by_label("URL").fill(f"{sink.url}/hook")
    page.get_by_role("button", name="Generate a secret").click()
    expect(page.get_by_label("Secret", exact=True)).to_have_value(re.compile(r"^whsec_[A-Za-z0-9+/]{32}$"))

    page.get_by_label("Submission", exact=True).select_option(index=1)  # the latest submission: Ada's
    page.get_by_role("button", name="Show preview").click()
    output = page.locator("#preview-output")
    expect(output).to_contain_text('"email": "ada@example.com"')
    expect(output).to_contain_text("webhook-signature")
    assert sink.requests == []
    assert_no_serious_violations(page, "integration editor")
    shot(page, "editor-preview", docs=True)

    # Leaving with unsaved changes asks first.
    # (Headless Chromium asks on closing the tab; a link click asks the same way in a real browser.)
    with page.expect_event("dialog") as asked:
        page.close(run_before_unload=True)
    assert asked.value.type == "beforeunload"
    asked.value.dismiss()
    assert not page.is_closed() and "/integrations/new/webhook" in page.url

    # Slack: the two ways to connect are a choice; only the chosen one's settings show. (In a tab of its
    # own: the webhook tab still holds unsaved changes, and navigating it away would ask again.)
    page = page.context.new_page()
    page.goto(f"/admin/forms/{form_id}/integrations/new/slack")
    expect(page.get_by_label("Webhook URL")).to_be_visible()
    expect(page.get_by_label("Channel", exact=True)).to_be_hidden()
    page.get_by_label("Bot token and channel").check()
    expect(page.get_by_label("Channel", exact=True)).to_be_visible()
    expect(page.get_by_label("Webhook URL")).to_be_hidden()

    # The field editor: a repeated name is marked on its row, under a summary shown above the fields.
    page.goto(f"/admin/forms/{form_id}")
    fields = page.get_by_role("group", name="Fields of the form")
    fields.get_by_role("button", name="Add field").click()
    names = fields.locator('[data-col="name"]')
    names.last.fill("email")
    page.get_by_role("button", name="Save fields").click()
    summary = page.locator("[data-form-summary]")
    expect(summary).to_have_text(re.compile("Please fix the fields marked below"))
    expect(names.nth(3)).to_have_attribute("aria-invalid", "true")
    expect(names.nth(0)).not_to_have_attribute("aria-invalid", "true")
    assert summary.bounding_box()["y"] < names.first.bounding_box()["y"]

    # Tokens: after Create token, the status settles and the list shows the new token at once.
    page.goto("/admin/tokens")
    page.get_by_label("Name").fill("CI deploy")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#token-status")).to_have_text("Token created.")
    expect(page.locator("#token-list")).to_contain_text("CI deploy")

    # The hosted page keeps its own address after a validation error, and has a favicon.
    no_js = browser.new_context(base_url=world.url, java_script_enabled=False)
    hosted = no_js.new_page()
    hosted.goto(f"/f/{form_id}")
    hosted.get_by_label("Your name").fill("Ada")
    hosted.get_by_label("Email").fill("ada@example")
    hosted.get_by_role("button", name="Send").click()
    expect(hosted.locator("#fh-email-error")).to_be_visible()
    assert hosted.url.endswith(f"/f/{form_id}")
    icon = hosted.locator('link[rel="icon"]').get_attribute("href")
    assert hosted.request.get(icon).status == 200
    no_js.close()


def test_relative_times_tick_without_a_reload(page, world, sink):
    form_id = world.create_form("Orders", FIELDS)
    world.add_webhook(form_id, f"{sink.url}/hook")
    world.submit(form_id, {"name": "Ada", "email": "ada@example.com"})
    sink.wait_for(1)
    page.clock.install()
    login(page, world.owner)
    page.goto("/admin/executions?view=jobs")
    created = page.locator("#executions-table time[data-relative]").first
    expect(created).to_have_text("just now")
    page.clock.fast_forward("05:00")
    expect(created).to_have_text("5 min ago")
