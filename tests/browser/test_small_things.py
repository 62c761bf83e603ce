"""Small things that cost trust (issue 23 item 6), in Chromium: a dialog whose buttons say what they do,
an invitation link that does not stay in the address bar, and a hosted form that speaks plainly and keeps
bots out; axe on the pages at desktop and phone widths."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from app.models import Operation
from tests.browser.axe_check import assert_no_serious_violations
from tests.browser.conftest import login

pytestmark = pytest.mark.browser
WIDTHS = (1280, 390)


def _running_backfill(world, config_id: str, form_id: str) -> str:
    """A backfill another process is working on (its lease held elsewhere), so it stays running."""
    with world.server.app.app_context():
        op = Operation(
            workspace_id=world.workspace_id,
            kind="backfill",
            params={"config_id": config_id, "form_id": form_id},
            config_ids=[config_id],
            lease_owner="another-process",
            lease_expires_at=time.time() + 3600,
        ).save()
    return str(op.id)


def test_the_cancel_dialog_says_keep_it_or_cancel_the_backfill(page, world, sink):
    form_id = world.create_form("Leads")
    config_id = world.add_webhook(form_id, f"{sink.url}/hook")
    op_id = _running_backfill(world, config_id, form_id)
    login(page, world.owner)
    page.goto("/admin/operations")
    page.locator(f'tr[data-operation="{op_id}"]').get_by_role("button", name="Cancel").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("button")).to_have_text(["Keep it running", "Cancel backfill"])
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert_no_serious_violations(page, f"cancel dialog at {width} px")
    dialog.get_by_role("button", name="Keep it running").click()
    expect(dialog).to_be_hidden()
    assert world.api("GET", f"/api/operations/{op_id}").json()["status"] == "running"

    page.locator(f'tr[data-operation="{op_id}"]').get_by_role("button", name="Cancel").click()
    dialog.get_by_role("button", name="Cancel backfill").click()
    expect(page.locator(f'tr[data-operation="{op_id}"]')).to_contain_text("cancelled")
