"""The integration editor: "Generate" rotates a webhook's signing secret, and Test connection of unsaved
changes keeps the saved secrets only while their destination is unchanged."""

from __future__ import annotations

import pytest
import standardwebhooks
from playwright.sync_api import expect

from tests.browser.conftest import login
from tests.support.wait import wait_until

pytestmark = pytest.mark.browser

OLD = "whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0LW9sZA=="


def test_generate_rotates_the_signing_secret_and_both_signatures_verify(page, world, sink):
    form_id = world.create_form()
    made = world.api(
        "POST",
        f"/api/forms/{form_id}/plugins",
        json={"plugin_id": "webhook", "config": {"url": sink.url, "secret": OLD}},
    ).json()
    login(page, world.editor)
    page.goto(f"/admin/integrations/{made['id']}")
    page.get_by_role("button", name="Generate a secret").click()
    secret_input = page.get_by_label("Secret", exact=True)
    new = secret_input.input_value()
    assert new.startswith("whsec_") and new != OLD
    expect(secret_input).to_have_attribute("type", "text")  # shown, to be copied to the receiver
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(f"**/admin/forms/{form_id}")

    [job_id] = world.submit(form_id, {"email": "ada@example.com"})
    wait_until(lambda: world.job(job_id)["status"] == "completed", what="the delivery")
    req = sink.requests[-1]
    for secret in (OLD, new):  # the receiver may hold either during the grace period
        standardwebhooks.Webhook(secret).verify(req.body, req.headers)


def test_testing_unsaved_changes_uses_the_saved_token_unless_the_url_changed(page, world, sink):
    form_id = world.create_form()
    made = world.api(
        "POST",
        f"/api/forms/{form_id}/plugins",
        json={"plugin_id": "webhook", "config": {"url": sink.url, "auth_token": "tok_saved_123456"}},
    ).json()
    login(page, world.editor)
    page.goto(f"/admin/integrations/{made['id']}")
    page.get_by_label("Timeout").fill("5")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result")).to_contain_text("Connection works")
    assert sink.requests[-1].headers["authorization"] == "Bearer tok_saved_123456"

    page.get_by_label("URL").fill(sink.url + "/elsewhere")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator('[data-error-for="config.auth_token"]')).to_contain_text("Enter auth_token again")
    assert all(r.path != "/elsewhere" for r in sink.requests)
