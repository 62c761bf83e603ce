"""The pages of data removal: deleted submissions shown on request with Restore and Purge (editors only),
the form's retention setting and its removals, the workspace's erasure form and removals (address masked)."""

from __future__ import annotations

import re

from app import auth
from app.engine import operations
from tests.admin_ui.conftest import owner_client
from tests.conftest import Api

PASSWORD = "correct horse battery"


def _client_of(app, email: str, role: str):
    with app.app_context():  # (the app's fast PASSWORD_HASH_METHOD)
        user = auth.create_user(email, PASSWORD)
    auth.set_member(auth.default_workspace_id(app), user, role)
    client = app.test_client()
    assert client.post("/api/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200
    return client


def _deleted_and_live(api: Api) -> tuple[dict, str, str]:
    form = api.create_form("Contact", [{"name": "email", "type": "email"}])
    deleted = api.submit(form["id"], {"email": "gone@example.com"})["id"]
    live = api.submit(form["id"], {"email": "here@example.com"})["id"]
    assert api.delete(f"/api/submissions/{deleted}").status_code == 200
    return form, deleted, live


def test_deleted_submissions_show_on_request_with_restore_and_purge_for_editors(app, api):
    form, deleted, live = _deleted_and_live(api)
    page = f"/admin/forms/{form['id']}/submissions"
    owner = owner_client(app)
    hidden = owner.get(page).get_data(as_text=True)
    assert live in hidden and deleted not in hidden and "Show deleted submissions too" in hidden
    shown = owner.get(page + "?deleted=1").get_data(as_text=True)
    assert live in shown and deleted in shown and "Hide deleted submissions" in shown
    row = shown.split(f'data-submission="{deleted}"', 1)[1].split("</tr>", 1)[0]
    assert f"POST /api/submissions/{deleted}/restore" in row
    assert f"POST /api/submissions/{deleted}/purge" in row and "data-confirm=" in row.split("/purge", 1)[1]
    live_row = shown.split(f'data-submission="{live}"', 1)[1].split("</tr>", 1)[0]
    assert "/restore" not in live_row and "/purge" not in live_row
    assert f"POST /api/forms/{form['id']}/submissions/purge-deleted" in shown
    viewer = _client_of(app, "viewer@example.com", "viewer").get(page + "?deleted=1").get_data(as_text=True)
    assert deleted in viewer and "/restore" not in viewer and "/purge" not in viewer


def test_the_form_page_shows_its_retention_and_its_removals(app, api):
    form, deleted, _ = _deleted_and_live(api)
    owner = owner_client(app)
    before = owner.get(f"/admin/forms/{form['id']}").get_data(as_text=True)
    assert (
        'id="f-retention"' in before
        and "kept forever" in before
        and "Nothing has been removed yet." in before
    )
    api.patch(f"/api/forms/{form['id']}", {"retention_days": 45})
    assert api.post(f"/api/submissions/{deleted}/purge").status_code == 200
    after = owner.get(f"/admin/forms/{form['id']}").get_data(as_text=True)
    assert 'value="45"' in after and "older than 45 days are removed" in after and "Keep forever" in after
    table = after.split('id="removals-table"', 1)[1].split("</table>", 1)[0]
    assert (
        "Purge of deleted submissions" in table
        and "1 submission " in table
        and app.config["ADMIN_EMAIL"] in table
    )


def test_the_members_page_offers_erasure_and_shows_it_masked(app, api):
    form = api.create_form("Contact", [{"name": "email", "type": "email"}])
    api.submit(form["id"], {"email": "zoe.smith@example.com"})
    owner = owner_client(app)
    page = owner.get("/admin/members").get_data(as_text=True)
    workspace = auth.default_workspace_id(app)
    assert f"POST /api/workspaces/{workspace}/erasures" in page and 'id="erasure-form"' in page
    assert (
        api.post(f"/api/workspaces/{workspace}/erasures", {"identifier": "zoe.smith@example.com"}).status_code
        == 202
    )
    while (step := operations.step("test", 30.0, 100, 10**9, 5)).done or step.prepared:
        pass
    after = owner.get("/admin/members").get_data(as_text=True)
    table = after.split('id="removals-table"', 1)[1].split("</table>", 1)[0]
    assert "Erasure of z***@example.com" in table and re.search(r"\b1 submission\b", table)
    assert "zoe.smith" not in after
    ops = owner.get("/admin/operations").get_data(as_text=True)
    assert "Erasure" in ops and "z***@example.com" in ops and "zoe.smith" not in ops
