"""Submission revisions live outside the submission's document: edits cost the same whatever the history,
the document stays bounded, too large an edit is refused with nothing written, old documents still read."""

from __future__ import annotations

import datetime as dt
import json

from bson import BSON, ObjectId

from app.api.submissions import MAX_DATA_BYTES
from app.engine import retention
from app.models import Submission, SubmissionRevision
from app.models import revision as revisions
from app.models.revision import MAX_KEPT, MAX_KEPT_BYTES, data_size
from tests.conftest import PATIENT_STORE, Api, ui_login

BLOB = 900_000  # characters: a 0.9 MB submission, as in the report


def _raw(app, sub_id: str) -> dict:
    with app.app_context():
        return Submission._get_collection().find_one({"_id": ObjectId(sub_id)})


def _stored_revisions(app, sub_id: str) -> list[int]:
    with app.app_context():
        rows = SubmissionRevision._get_collection().find({"submission_id": sub_id}, {"revision": 1})
        return sorted(row["revision"] for row in rows)


def _edit(api, sub_id: str, data: dict):
    return api.patch(f"/api/submissions/{sub_id}", {"data": data})


def test_a_large_submission_edited_many_times_keeps_a_bounded_document_and_recent_revisions(app, api):
    form = api.create_form("Big")  # no declared fields: any data
    sub = api.submit(form["id"], {"blob": "a" * BLOB})["id"]
    edits = 22
    for i in range(1, edits + 1):
        resp = _edit(api, sub, {"blob": chr(ord("a") + i % 26) * BLOB, "n": i})
        assert resp.status_code == 200, (i, resp.status_code)
        size = len(BSON.encode(_raw(app, sub)))
        assert size < 3 * BLOB, (i, size)  # the data, and at most the pending edit's data before it
    assert _raw(app, sub)["revision"] == edits + 1

    listed = api.get(f"/api/submissions/{sub}/revisions").json
    fit = min(MAX_KEPT, MAX_KEPT_BYTES // data_size({"blob": "a" * BLOB, "n": 1}))
    assert [r["revision"] for r in listed["items"]] == list(range(edits, edits - fit, -1))
    assert listed["items"][0]["data"] == {"blob": chr(ord("a") + (edits - 1) % 26) * BLOB, "n": edits - 1}
    assert listed["revision"] == edits + 1 and _stored_revisions(app, sub) == list(
        range(edits - fit + 1, edits + 1)
    )

    page = ui_login(app).get(f"/admin/submissions/{sub}").text
    assert f"Revision {edits}" in page and f"Revision {edits - fit + 1}" in page
    assert (
        f"Revision {edits - fit} ·" not in page
        and f"Revision {edits - fit + 1} ·" in page
        and "Older revisions are not kept." in page
    )


def _too_large_bodies() -> list[dict]:
    """Data whose JSON fits the request limit (1 MiB) but is larger than the edit limit once stored."""
    bodies = [
        {"n": [0] * 200_000},
        {"a": [[]] * 100_000, "b": [0] * 100_000},
        {"d": [{"k": 0}] * 40_000, "n": [1] * 150_000},
    ]
    for body in bodies:
        assert len(json.dumps({"data": body}, separators=(",", ":"))) < 1024 * 1024
        assert data_size(body) > MAX_DATA_BYTES
    return bodies


def test_an_edit_too_large_to_store_is_413_and_changes_nothing(make_app):
    app = make_app(**PATIENT_STORE)
    api = Api(app.test_client())
    form = api.create_form("Free")
    hook = api.add_plugin(
        form["id"], "webhook", {"url": "https://example.com/hook"}, trigger_events=["response.edited"]
    )
    sub = api.submit(form["id"], {"name": "Ada"})["id"]
    assert hook["id"]
    before = _raw(app, sub)
    for body in _too_large_bodies():
        compact = json.dumps({"data": body}, separators=(",", ":"))
        resp = api.client.patch(
            f"/api/submissions/{sub}", data=compact, content_type="application/json", headers=api.headers
        )
        assert resp.status_code == 413, resp.json
        assert resp.json["error"]["code"] == "too_large" and "at most" in resp.json["error"]["message"]
    assert _raw(app, sub) == before
    assert api.get(f"/api/submissions/{sub}/revisions").json["items"] == []
    assert api.get(f"/api/jobs?submission_id={sub}").json["items"] == []


def test_an_edit_that_would_grow_the_document_past_its_limit_is_413_and_changes_nothing(app, api):
    form = api.create_form("Big")
    sub = api.submit(form["id"], {"blob": "a" * BLOB})["id"]
    # earlier edits whose events are not dispatched yet (no scheduler here): each keeps the data before it
    stuck = [
        {
            "key": f"{sub}:{n}:response.edited",
            "name": "response.edited",
            "revision": n,
            "at": dt.datetime.now(dt.UTC),
            "previous": {"blob": "p" * BLOB},
        }
        for n in range(2, 15)
    ]
    with app.app_context():
        Submission._get_collection().update_one(
            {"_id": ObjectId(sub)}, {"$set": {"pending_events": stuck, "dispatch_pending": True}}
        )
    before = _raw(app, sub)
    resp = _edit(api, sub, {"blob": "b" * BLOB})
    assert resp.status_code == 413 and "try again" in resp.json["error"]["message"]
    assert _raw(app, sub) == before and _stored_revisions(app, sub) == []


def _legacy(app, form: dict, history: list[dict], data: dict) -> str:
    """A submission as stored before revisions moved out: earlier ones in its ``history`` list."""
    doc = {
        "_id": ObjectId(),
        "form_id": form["id"],
        "workspace_id": form["workspace_id"],
        "data": data,
        "revision": len(history) + 1,
        "deleted": False,
        "history": history,
        "pending_events": [],
        "dispatch_pending": False,
        "created_at": dt.datetime(2026, 1, 1),
        "updated_at": dt.datetime(2026, 1, 2),
    }
    with app.app_context():
        Submission._get_collection().insert_one(doc)
    return str(doc["_id"])


def test_a_document_from_before_still_shows_its_history_and_its_next_edit_moves_it_out(app, api):
    form = api.create_form("Old")
    history = [
        {"revision": n, "data": {"name": f"v{n}"}, "updated_at": f"2026-01-0{n}T00:00:00.000Z"}
        for n in (1, 2, 3)
    ]
    sub = _legacy(app, form, history, {"name": "v4"})
    listed = api.get(f"/api/submissions/{sub}/revisions").json["items"]
    assert [(r["revision"], r["data"]["name"]) for r in listed] == [(3, "v3"), (2, "v2"), (1, "v1")]
    assert "Revision 1" in ui_login(app).get(f"/admin/submissions/{sub}").text

    assert _edit(api, sub, {"name": "v5"}).status_code == 200
    assert "history" not in _raw(app, sub)
    listed = api.get(f"/api/submissions/{sub}/revisions").json["items"]
    assert [(r["revision"], r["data"]["name"]) for r in listed] == [
        (4, "v4"),
        (3, "v3"),
        (2, "v2"),
        (1, "v1"),
    ]
    assert _stored_revisions(app, sub) == [1, 2, 3, 4]


def test_a_document_from_before_near_the_stores_limit_can_be_edited_again(app, api):
    form = api.create_form("Old")
    history = [
        {"revision": n, "data": {"blob": chr(96 + n) * BLOB}, "updated_at": None} for n in range(1, 15)
    ]
    sub = _legacy(app, form, history, {"blob": "z" * BLOB})
    assert len(BSON.encode(_raw(app, sub))) > 13 * BLOB  # an edit on top of it used to pass 16 MB: 500
    resp = _edit(api, sub, {"blob": "y" * BLOB})
    assert resp.status_code == 200, resp.json
    assert len(BSON.encode(_raw(app, sub))) < 3 * BLOB
    kept = [r["revision"] for r in api.get(f"/api/submissions/{sub}/revisions").json["items"]]
    assert kept[0] == 15 and kept == list(range(15, 15 - len(kept), -1)) and 1 < len(kept) < 15


def test_deleting_a_form_forgets_its_submissions_revisions(app, api):
    form = api.create_form("Short-lived")
    sub = api.submit(form["id"], {"name": "a"})["id"]
    assert _edit(api, sub, {"name": "b"}).status_code == 200
    assert _stored_revisions(app, sub) == [1]
    assert api.delete(f"/api/forms/{form['id']}").status_code == 204
    with app.app_context():
        retention.run_pass(batch=10, share=1.0, seconds=30)  # (a deleted form's data goes in the background)
    assert _stored_revisions(app, sub) == []


def test_keeping_a_revision_twice_stores_it_once(app, api):
    """An edit that lost a race, or was retried, has kept the revision already: no error, no copy."""
    form = api.create_form("Race")
    sub = api.submit(form["id"], {"name": "a"})["id"]
    with app.app_context():
        current = Submission.objects.get(id=sub)
        revisions.keep(current)
        revisions.keep(current)
    assert _stored_revisions(app, sub) == [1]
    assert api.get(f"/api/submissions/{sub}/revisions").json["items"] == []  # the current one is not listed
    assert _edit(api, sub, {"name": "b"}).status_code == 200
    assert [r["data"] for r in api.get(f"/api/submissions/{sub}/revisions").json["items"]] == [{"name": "a"}]
