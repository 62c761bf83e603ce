"""Your account and workspaces: change your password (optionally revoking your API tokens), create,
rename and switch workspaces."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, login

pytestmark = pytest.mark.browser


def test_changing_your_password_ends_other_sessions_and_can_revoke_your_tokens(page, world, browser):
    elsewhere = browser.new_context(base_url=world.url)
    try:
        other = elsewhere.new_page()
        login(other, world.editor)
        login(page, world.editor)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Account").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
        assert_accessible(page)
        page.get_by_label("Current password").fill("not my password")
        page.get_by_label("New password").fill("a brand new password")
        page.get_by_role("button", name="Change password").click()
        expect(page.locator("[data-error-for=current_password]")).to_contain_text("not your password")

        page.get_by_label("Current password").fill(world.editor.password)
        page.get_by_label("Also revoke my API tokens").check()
        page.get_by_role("button", name="Change password").click()
        expect(page.locator("#flash")).to_contain_text("Your password is changed")
        expect(page.get_by_role("heading", level=1)).to_have_text("Your account")  # this session goes on

        headers = {"Authorization": f"Bearer {world.editor.token}"}
        assert requests.get(f"{world.url}/api/forms", headers=headers, timeout=10).status_code == 401
        other.goto("/admin/forms")
        expect(other).to_have_url(re.compile(r"/admin/login"))  # the other session ended
        world.editor.password = "a brand new password"
        login(other, world.editor)
    finally:
        elsewhere.close()


def test_workspaces_are_created_renamed_and_switched_to(page, world):
    login(page, world.owner)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Workspaces").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Workspaces")
    page.get_by_role("textbox", name=re.compile("^Name")).fill("Marketing")
    page.get_by_role("button", name="Create workspace").click()
    expect(page.get_by_role("row", name=re.compile("Marketing"))).to_contain_text("owner")
    assert_accessible(page)

    page.get_by_label("New name for Marketing").fill("Growth")
    page.get_by_role("button", name="Rename Marketing").click()
    row = page.get_by_role("row", name=re.compile("Growth"))
    expect(row).to_contain_text("owner")

    row.get_by_role("button", name="Switch to Growth").click()
    expect(page.locator("#flash")).to_contain_text("You are now working in Growth")
    expect(page.locator(".user-workspace")).to_have_text("Growth")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Members").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Members of Growth")
    names = [w["name"] for w in world.api("GET", "/api/workspaces").json()["items"]]
    assert sorted(names) == ["Acme", "Growth"]


def test_admin_pages_run_under_their_content_security_policy_without_violations(page, world):
    """The policy allows only the app's own script files: any inline script or handler would show here."""
    violations: list[str] = []
    page.on(
        "console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None
    )
    login(page, world.owner)
    for path in (
        "/admin/",
        "/admin/forms",
        "/admin/executions",
        "/admin/members",
        "/admin/workspaces",
        "/admin/account",
        "/admin/tokens",
    ):
        resp = page.goto(path)
        assert "script-src 'self'" in resp.headers["content-security-policy"]
    page.goto("/admin/members")
    page.get_by_label("Role of editor@acme.test").select_option("viewer")
    expect(page.get_by_role("dialog")).to_be_visible()  # the static script is running
    assert violations == []
