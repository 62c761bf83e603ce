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


def test_an_owner_adds_a_member_changes_their_role_and_removes_them(page, world):
    login(page, world.owner)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Members").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Members of Acme")
    page.get_by_label("Email").fill("new@acme.test")
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_label("Password for a new user").fill("a long password")
    page.get_by_role("button", name="Add member").click()
    row = page.get_by_role("row", name=re.compile("new@acme.test"))
    expect(row.get_by_label("Role of new@acme.test")).to_have_value("viewer")
    assert_accessible(page)
    shot(page, "members")

    row.get_by_label("Role of new@acme.test").select_option("editor")
    expect(page.locator("#members-status")).to_contain_text("role is now editor")
    members = world.api("GET", f"/api/workspaces/{world.workspace_id}/members").json()["items"]
    assert {m["user"]["email"]: m["role"] for m in members}["new@acme.test"] == "editor"

    row.get_by_role("button", name=re.compile("Remove")).click()
    page.get_by_role("dialog").get_by_role("button", name="Remove member").click()
    expect(page.get_by_role("row", name=re.compile("new@acme.test"))).to_have_count(0)


def test_members_page_is_for_owners_only(page, world):
    login(page, world.editor)
    assert page.goto("/admin/members").status == 403
