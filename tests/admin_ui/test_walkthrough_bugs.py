"""Regression tests for the bugs a walk-through of the admin UI found (issue 14, section 7)."""

from __future__ import annotations

import datetime as dt
import re

from bson import ObjectId

from app.models import PluginJob, Submission


def _same_second_ids() -> tuple[ObjectId, ObjectId]:
    """Two ids of one second from two processes: the later-created one sorts first by id."""
    second = int(dt.datetime.now(dt.UTC).timestamp()).to_bytes(4, "big")
    return ObjectId(second + b"\xff" * 8), ObjectId(second + b"\x00" * 8)


def test_lists_come_out_in_creation_order_even_when_ids_disagree(app, api, owner):
    form = api.create_form("Bulk", [{"name": "n", "type": "text"}])
    first_id, second_id = _same_second_ids()  # created first, but its id is larger
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    with app.app_context():
        for oid, n, at in (
            (first_id, "first", now),
            (second_id, "second", now + dt.timedelta(milliseconds=5)),
        ):
            Submission._get_collection().insert_one(
                {
                    "_id": oid,
                    "form_id": form["id"],
                    "workspace_id": form["workspace_id"],
                    "data": {"n": n},
                    "revision": 1,
                    "deleted": False,
                    "created_at": at,
                }
            )
            PluginJob._get_collection().insert_one(
                {
                    "_id": oid,
                    "config_id": "c",
                    "form_id": form["id"],
                    "workspace_id": form["workspace_id"],
                    "plugin_id": "webhook",
                    "event": "form.submitted",
                    "status": "completed",
                    "attempts": 1,
                    "max_attempts": 5,
                    "payload": {"data": {"n": n}},
                    "dispatch_key": f"k{n}",
                    "idempotency_key": f"msg_{n}",
                    "created_at": at,
                }
            )
    listed = api.get(f"/api/forms/{form['id']}/submissions").json["items"]
    assert [s["data"]["n"] for s in listed] == ["second", "first"]
    jobs = api.get(f"/api/jobs?form_id={form['id']}").json["items"]
    assert [j["idempotency_key"] for j in jobs] == ["msg_second", "msg_first"]
    page = owner.get(f"/admin/forms/{form['id']}/submissions?sort=oldest").text
    assert page.index(str(first_id)) < page.index(str(second_id))
    executions = owner.get(f"/admin/executions?form_id={form['id']}&range=all").text
    assert executions.index(str(second_id)) < executions.index(str(first_id))


def test_whole_numbers_stay_integers_and_decimals_stay_exact(api):
    form = api.create_form("Order", [{"name": "qty", "type": "number"}, {"name": "price", "type": "number"}])
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/hook"})
    accepted = api.submit(form["id"], {"qty": "26", "price": "19.99"})
    stored = api.get(f"/api/submissions/{accepted['id']}").json["data"]
    assert stored == {"qty": 26, "price": 19.99}
    assert isinstance(stored["qty"], int)
    sent = api.job(accepted["jobs"][0])["payload"]["data"]
    assert isinstance(sent["qty"], int) and sent["price"] == 19.99
    too_precise = api.post(
        f"/api/forms/{form['id']}/submissions", {"data": {"price": "12345678901234567.89"}}
    )
    assert too_precise.status_code == 422
    assert "exactly" in too_precise.json["error"]["details"]["data"]["price"][0]


def test_unknown_pages_get_an_html_404_with_navigation_but_the_api_keeps_json(owner, app):
    for path in ("/admin/no-such-page", "/no-such-page"):
        resp = owner.get(path, headers={"Accept": "text/html"})
        assert resp.status_code == 404 and resp.mimetype == "text/html", path
        assert 'aria-label="Main"' in resp.text and "Page not found" in resp.text
        assert 'href="/admin/forms"' in resp.text
    anonymous = app.test_client().get("/admin/no-such-page")
    assert anonymous.status_code == 404 and "Log in" in anonymous.text
    api_404 = owner.get("/api/no-such-thing")
    assert api_404.status_code == 404 and api_404.json["error"]["code"] == "not_found"


def test_a_duplicate_field_name_is_reported_on_the_row_that_repeats_it(api):
    form = api.create_form("Dupes")
    fields = [{"name": "email"}, {"name": "name"}, {"name": "email"}]
    resp = api.patch(f"/api/forms/{form['id']}", {"fields": fields})
    assert resp.status_code == 422
    assert resp.json["error"]["details"] == {
        "fields": {"2": {"name": ["Another field is already named “email”; names must be unique."]}}
    }


def test_the_hosted_form_posts_to_its_own_address_and_has_a_favicon(app, api):
    form = api.create_form("Contact", [{"name": "email", "type": "email", "required": True}])
    browser = app.test_client()
    page = browser.get(f"/f/{form['id']}").text
    assert f'action="/f/{form["id"]}"' in page
    assert re.search(r'<link rel="icon" href="[^"]+favicon.svg"', page)
    html = {"Accept": "text/html"}
    refused = browser.post(f"/f/{form['id']}", data={"email": "not-an-email"}, headers=html)
    assert refused.status_code == 422 and 'id="fh-email-error"' in refused.text
    accepted = browser.post(f"/f/{form['id']}", data={"email": "ada@example.com"}, headers=html)
    assert accepted.status_code == 303 and accepted.headers["Location"].endswith(f"/f/{form['id']}/thanks")
    icon = browser.get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
