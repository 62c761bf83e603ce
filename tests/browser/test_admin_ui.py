"""The admin UI and the hosted form page in a real browser, against the real app, store and scheduler."""

from __future__ import annotations

import re
import threading

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, login, shot
from tests.support.sink import Reply
from tests.support.wait import wait_until

pytestmark = pytest.mark.browser


def test_owner_creates_a_form_collects_a_submission_and_connects_a_webhook(page, browser, world, sink):
    login(page, world.owner)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Forms").click()
    page.get_by_role("button", name="New form").click()
    page.get_by_role("textbox", name="Name", exact=True).fill("Contact us")
    page.get_by_role("button", name="Create form").click()
    page.wait_for_url(re.compile(r"/admin/forms/[0-9a-f]{24}$"))
    form_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_role("heading", level=1)).to_have_text("Contact us")
    expect(page.get_by_label("Submission URL")).to_have_value(f"{world.url}/api/forms/{form_id}/submissions")
    assert_accessible(page)

    # The hosted page works without JavaScript: a bad email comes back with the message next to the field.
    no_js = browser.new_context(base_url=world.url, java_script_enabled=False)
    hosted = no_js.new_page()
    hosted.goto(f"/f/{form_id}")
    assert_accessible(hosted)
    shot(hosted, "hosted-form")
    hosted.get_by_label("Your name").fill("Ada Lovelace")
    hosted.get_by_label("Email").fill("ada@example")  # the browser accepts it, the server does not
    hosted.get_by_label("Message").fill("Hello from the hosted page")
    hosted.get_by_role("button", name="Send").click()
    expect(hosted.locator("#fh-email-error")).to_contain_text("email")
    expect(hosted.get_by_label("Your name")).to_have_value("Ada Lovelace")
    hosted.get_by_label("Email").fill("ada@example.com")
    hosted.get_by_role("button", name="Send").click()
    expect(hosted.get_by_role("heading", level=1)).to_have_text("Thank you!")
    shot(hosted, "hosted-thanks")
    no_js.close()

    page.reload()
    expect(page.get_by_role("region", name="Submissions", exact=True)).to_contain_text("ada@example.com")

    # Add a webhook: a bad URL is refused by the API and the message shows under the field.
    page.get_by_role("link", name="Add integration").click()
    page.get_by_label("Search").fill("webhook")  # Teams and Discord post through webhooks too
    expect(page.locator(".plugin-card:visible")).to_have_count(3)
    page.get_by_label("Search").fill("signed")
    expect(page.locator(".plugin-card:visible")).to_have_count(1)
    shot(page, "catalogue")
    page.get_by_role("link", name=re.compile("Webhook")).click()
    page.get_by_label("URL").fill("not a url")
    page.get_by_role("button", name="Save integration").click()
    expect(page.locator('[data-error-for="config.url"]')).to_have_text("Enter a full web address, starting with https://.")
    expect(page.get_by_label("URL")).to_have_attribute("aria-invalid", "true")

    # Fix it, add a header, test before saving: the sink answers and the result shows in place.
    page.get_by_label("URL").fill(f"{sink.url}/hook")
    headers = page.get_by_role("group", name="Headers")
    headers.get_by_label("Key").fill("X-Team")
    headers.get_by_label("Value").fill("support")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result")).to_contain_text("Connection works")
    assert sink.wait_for(1)[0].headers["x-team"] == "support"
    assert_accessible(page)
    shot(page, "integration-form")
    page.get_by_role("button", name="Save integration").click()
    page.wait_for_url(f"**/admin/forms/{form_id}")
    card = page.get_by_role("article", name="Webhook")
    expect(card).to_contain_text("New submission")
    expect(card.get_by_role("switch")).to_be_checked()

    # A submission through the API: its execution appears, and turns completed without reloading the page.
    # The sink holds the delivery until released, so the page is seen while the job runs.
    release = threading.Event()
    sink.responder = lambda req: Reply(200, b"thanks") if release.wait(15) else Reply(504)
    [job_id] = world.submit(form_id, {"name": "Grace", "email": "grace@example.com", "message": "Hi"})
    wait_until(lambda: world.job(job_id)["status"] == "running", what="the delivery to start")
    page.goto("/admin/executions")
    row = page.locator(f'tr[data-job="{job_id}"]')
    expect(row.locator(".badge")).to_have_text("running")
    release.set()
    expect(row.locator(".badge")).to_have_text("completed")
    assert_accessible(page)
    shot(page, "executions-first")
    page.get_by_role("link", name="Attempts").click()
    expect(page.locator("#executions-table")).to_contain_text("HTTP 200")

    # The saved config can be tested from the card on the form page.
    page.goto(f"/admin/forms/{form_id}")
    card.get_by_role("button", name=re.compile("Test connection")).click()
    expect(card.get_by_role("status")).to_contain_text("Connection works")
    shot(page, "form-page-after-test")


def test_a_failed_execution_is_retried_after_the_sink_is_fixed(page, world, sink):
    form_id = world.create_form("Orders")
    world.add_webhook(form_id, f"{sink.url}/hook")
    sink.responder = lambda req: Reply(400, b"bad request: missing field")
    [job_id] = world.submit(form_id, {"email": "ada@example.com"})
    wait_until(lambda: world.job(job_id)["status"] == "failed", what="the job to fail")

    login(page, world.editor)
    page.goto("/admin/executions?view=jobs&status=failed")
    row = page.locator(f'tr[data-job="{job_id}"]')
    expect(row.locator(".badge")).to_have_text("failed")
    row.get_by_role("link", name="Details").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("failed")
    attempt = page.locator(".attempt").first
    expect(attempt).to_contain_text("HTTP 400")
    expect(attempt.get_by_role("region", name="What came back")).to_contain_text("missing field")
    expect(attempt.get_by_role("region", name="What was sent")).to_contain_text(f"{sink.url}/hook")
    assert_accessible(page)
    shot(page, "job-failed")

    sink.responder = lambda req: Reply(200, b"ok")
    page.get_by_role("button", name="Retry").click()
    # A 400 is a permanent failure: retrying warns that the cause must be fixed first.
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("retrying cannot fix")
    dialog.get_by_role("button", name="Retry anyway").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("completed")
    expect(page.locator(".attempt")).to_have_count(2)
    shot(page, "job-retried")
    assert world.job(job_id)["status"] == "completed"


def test_retry_all_failed_resends_every_failed_job_of_an_integration(page, world, sink):
    form_id = world.create_form("Signups")
    config_id = world.add_webhook(form_id, f"{sink.url}/hook", name="CRM")
    sink.responder = lambda req: Reply(400, b"no")
    jobs = [world.submit(form_id, {"email": f"user{i}@example.com"})[0] for i in range(3)]
    wait_until(lambda: all(world.job(j)["status"] == "failed" for j in jobs), what="three failures")

    sink.responder = lambda req: Reply(200, b"ok")
    login(page, world.owner)
    page.goto(f"/admin/executions?view=jobs&config_id={config_id}")
    page.get_by_role("button", name="Retry all failed of CRM").click()
    page.get_by_role("dialog").get_by_role("button", name="Retry all failed").click()
    expect(page.locator("#executions-status")).to_have_text("3 failed job(s) queued again.")
    expect(page.locator("#executions-table .badge", has_text="completed")).to_have_count(3)


def test_pending_jobs_can_be_cancelled(page, world, sink):
    form_id = world.create_form("Slow")
    config_id = world.add_webhook(form_id, f"{sink.url}/hook")
    world.api("PATCH", f"/api/plugin-configs/{config_id}", json={"enabled": False})
    login(page, world.owner)
    # A disabled integration gets no jobs; re-enable it from the card, then hold the job back via the sink.
    page.goto(f"/admin/forms/{form_id}")
    switch = page.get_by_role("switch")
    expect(switch).not_to_be_checked()
    switch.check()
    expect(page.get_by_role("article").get_by_role("status")).to_contain_text("enabled is now on")
    assert world.api("GET", f"/api/plugin-configs/{config_id}").json()["enabled"] is True

    sink.responder = lambda req: Reply(503, b"busy", headers={"Retry-After": "300"})
    [job_id] = world.submit(form_id, {"email": "ada@example.com"})
    wait_until(lambda: world.job(job_id)["attempts"] == 1, what="a first attempt")
    page.goto(f"/admin/jobs/{job_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("pending")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("cancelled")
    assert world.job(job_id)["status"] == "cancelled"


def test_a_viewer_sees_no_edit_controls(page, world, sink):
    form_id = world.create_form("Feedback")
    config_id = world.add_webhook(form_id, f"{sink.url}/hook")
    sink.responder = lambda req: Reply(400, b"no")
    [job_id] = world.submit(form_id, {"email": "ada@example.com"})
    wait_until(lambda: world.job(job_id)["status"] == "failed", what="the job to fail")

    login(page, world.viewer)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Members")).to_have_count(0)
    page.goto("/admin/forms")
    expect(page.get_by_role("button", name="New form")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^Delete"))).to_have_count(0)
    page.goto(f"/admin/forms/{form_id}")
    expect(page.get_by_role("link", name="Add integration")).to_have_count(0)
    expect(page.get_by_role("switch")).to_have_count(0)
    expect(page.get_by_role("button", name="Save fields")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Retry|Delete|Test"))).to_have_count(0)
    page.get_by_role("link", name=re.compile("Settings")).click()
    expect(page.get_by_label("URL")).to_be_disabled()
    expect(page.get_by_role("button", name=re.compile("Save|Test|Delete"))).to_have_count(0)
    page.goto(f"/admin/jobs/{job_id}")
    expect(page.get_by_role("button", name="Retry")).to_have_count(0)
    page.goto(f"/admin/executions?config_id={config_id}")
    expect(page.locator(f'tr[data-job="{job_id}"]')).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Retry|Cancel"))).to_have_count(0)
    shot(page, "viewer-executions")
    response = page.goto(f"/admin/forms/{form_id}/integrations/new")
    assert response.status == 403


def test_another_workspaces_form_is_not_found(page, world):
    login(page, world.owner)
    for path in (
        f"/admin/forms/{world.other_form_id}",
        f"/admin/executions?form_id={world.other_form_id}",
        f"/admin/forms/{world.other_form_id}/integrations/new",
    ):
        response = page.goto(path)
        assert response.status == 404, path
        expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    page.goto("/admin/forms")
    expect(page.get_by_role("main")).not_to_contain_text("Globex secrets")


def test_login_rejects_a_wrong_password_and_logout_ends_the_session(page, world):
    page.goto("/admin/forms")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    page.get_by_label("Email").fill(world.owner.email)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("The email or password is not right.")
    assert_accessible(page)
    shot(page, "login")
    page.get_by_label("Password").fill(world.owner.password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/admin/forms$"))
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/admin/login"))
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login"))


def test_switching_intake_off_closes_the_hosted_page(page, world):
    form_id = world.create_form("Survey")
    login(page, world.editor)
    page.goto(f"/admin/forms/{form_id}")
    page.get_by_text("Intake settings").click()
    page.get_by_role("switch", name="Accepting submissions").uncheck()
    expect(page.locator("#intake-status")).to_contain_text("accepting submissions is now off")
    page.get_by_label("Sites allowed to post from JavaScript (CORS)").fill("https://www.example.com")
    page.get_by_role("button", name="Save origins").click()
    expect(page.locator("#origins-status")).to_have_text("Allowed origins saved.")
    form = world.api("GET", f"/api/forms/{form_id}").json()
    assert form["accepting_submissions"] is False
    assert form["allowed_origins"] == ["https://www.example.com"]
    page.goto(f"/f/{form_id}")
    expect(page.get_by_role("alert")).to_have_text("This form is not accepting submissions right now.")
    expect(page.get_by_role("button", name="Send")).to_have_count(0)
