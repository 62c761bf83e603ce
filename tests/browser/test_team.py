"""Owners manage members; everyone manages their own API tokens (shown once, revocable)."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, login, shot

pytestmark = pytest.mark.browser


def test_a_token_is_shown_once_works_and_stops_working_when_revoked(page, world):
    login(page, world.editor)
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("Zapier")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_label("New token")).to_have_value(re.compile("^fhp_"))
    token = page.get_by_label("New token").input_value()
    assert_accessible(page)
    shot(page, "tokens-created")
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{world.url}/api/forms", headers=headers, timeout=10).status_code == 200

    page.get_by_role("link", name="Done — show my tokens").click()
    row = page.get_by_role("row", name=re.compile("Zapier"))
    expect(row).to_contain_text(token[:10])
    expect(page.get_by_role("main")).not_to_contain_text(token)
    row.get_by_role("button", name=re.compile("Revoke")).click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke token").click()
    expect(page.get_by_role("row", name=re.compile("Zapier"))).to_have_count(0)
    assert requests.get(f"{world.url}/api/forms", headers=headers, timeout=10).status_code == 401


def test_an_owner_invites_someone_who_joins_with_their_own_password(page, world, browser):
    login(page, world.owner)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Members").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Members of Acme")
    expect(page.get_by_label("Password")).to_have_count(0)  # an inviter never sets a password
    page.get_by_label("Email").fill("new@acme.test")
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Invite").click()
    link = page.get_by_label("Invitation link")
    expect(link).to_have_value(re.compile(r"/admin/invite/fhi_"))
    invite_url = link.input_value()
    assert_accessible(page)
    page.get_by_role("link", name="Done — show pending invitations").click()
    expect(page.get_by_role("row", name=re.compile("new@acme.test"))).to_contain_text("viewer")

    invitee = browser.new_context(base_url=world.url)
    try:
        other = invitee.new_page()
        other.goto(invite_url)
        expect(other.get_by_role("heading", level=1)).to_have_text("Join Acme")
        other.get_by_label("Password").fill("my very own password")
        other.get_by_role("button", name="Accept the invitation").click()
        other.wait_for_url(re.compile(r"/admin/$"))
        expect(other.locator(".user-email")).to_have_text("new@acme.test")
        other.goto(invite_url)  # the link worked once
        expect(other.get_by_role("heading", level=1)).to_have_text("Invitation")
    finally:
        invitee.close()

    page.reload()
    expect(page.get_by_text("No pending invitations.")).to_be_visible()
    row = page.get_by_role("row", name=re.compile("new@acme.test"))
    expect(row.get_by_label("Role of new@acme.test")).to_have_value("viewer")


def test_a_role_change_asks_for_confirmation_first(page, world):
    login(page, world.owner)
    page.goto("/admin/members")
    role = page.get_by_label("Role of viewer@acme.test")
    role.select_option("editor")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Change the role of viewer@acme.test in Acme?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(role).to_have_value("viewer")
    members = world.api("GET", f"/api/workspaces/{world.workspace_id}/members").json()["items"]
    assert {m["user"]["email"]: m["role"] for m in members}["viewer@acme.test"] == "viewer"

    role.select_option("editor")
    page.get_by_role("dialog").get_by_role("button", name="Change role").click()
    expect(page.locator("#members-status")).to_contain_text("role is now editor")
    members = world.api("GET", f"/api/workspaces/{world.workspace_id}/members").json()["items"]
    assert {m["user"]["email"]: m["role"] for m in members}["viewer@acme.test"] == "editor"

    row = page.get_by_role("row", name=re.compile("viewer@acme.test"))
    row.get_by_role("button", name=re.compile("Remove")).click()
    page.get_by_role("dialog").get_by_role("button", name="Remove member").click()
    expect(page.get_by_role("row", name=re.compile("viewer@acme.test"))).to_have_count(0)


def test_members_page_is_for_owners_only(page, world):
    login(page, world.editor)
    assert page.goto("/admin/members").status == 403
