"""The submissions pages' actions through the test client (issue 23 item 4): the edit form, the column
chooser with labels, bulk resend (a replay of chosen submissions) and rows that arrive without a reload."""

from __future__ import annotations

import re

import pytest

from app.engine.replay import Replay
from app.models import Operation, PluginJob, Submission
from tests.admin_api.conftest import csrf_headers, login, people  # noqa: F401
from tests.admin_ui.conftest import owner_client

FIELDS = [
    {"name": "full_name", "label": "Your name", "type": "text", "required": True},
    {"name": "email", "label": "E-mail address", "type": "email", "required": True},
    {"name": "plan", "label": "Plan", "type": "select", "options": ["Free", "Pro"]},
    {"name": "seats", "label": "Seats", "type": "number"},
    {"name": "notes", "label": "Anything else", "type": "textarea"},
    {"name": "city", "label": "Town", "type": "text"},
    {"name": "phone", "label": "Phone number", "type": "tel"},
    {"name": "agree", "label": "I agree", "type": "checkbox"},
]
ADA = {"full_name": "Ada Lovelace", "email": "ada@example.com", "plan": "Pro", "seats": 3, "city": "London"}


@pytest.fixture
def form(api):
    return api.create_form("Sign-ups", FIELDS)


def _member(app, people, email: str, role: str):  # noqa: F811
    """A session client of a new member of the default workspace with ``role``."""
    with app.app_context():
        people.member(email, {people.default_workspace(): role})
    client = app.test_client()
    assert login(client, email).status_code == 200
    return client


def _stored(app, sub_id: str) -> Submission:
    with app.app_context():
        return Submission.objects.get(id=sub_id)


# ---- the edit form ---------------------------------------------------------------------------------


def test_the_detail_page_offers_an_edit_form_with_labels_and_current_values(app, api, form, owner):
    sub_id = api.submit(form["id"], ADA)["id"]
    html = owner.get(f"/admin/submissions/{sub_id}").text
    edit = html.split('id="edit"', 1)[1].split("</details>", 1)[0]
    assert f'data-api="PATCH /api/submissions/{sub_id}"' in edit
    for label in ("Your name", "E-mail address", "Seats", "Anything else", "Town", "I agree"):
        assert f">{label}" in edit
    assert 'value="Ada Lovelace"' in edit and 'value="3"' in edit and "<option selected>Pro</option>" in edit
    assert 'data-name="data.email"' in edit and 'data-error-for="data.email"' in edit
    assert "revision 2" in edit


@pytest.mark.parametrize("role", ["viewer"])
def test_a_viewer_gets_no_edit_form_and_cannot_edit(app, api, form, people, role):  # noqa: F811
    sub_id = api.submit(form["id"], ADA)["id"]
    viewer = _member(app, people, "viewer@example.com", role)
    html = viewer.get(f"/admin/submissions/{sub_id}").text
    assert "Ada Lovelace" in html and 'id="edit"' not in html and "PATCH" not in html
    listing = viewer.get(f"/admin/forms/{form['id']}/submissions").text
    assert "data-select-submission" not in listing and "data-sub-bulk" not in listing
    resp = viewer.patch(
        f"/api/submissions/{sub_id}", json={"data": {**ADA, "city": "Paris"}}, headers=csrf_headers(viewer)
    )
    assert resp.status_code in (403, 404)
    assert _stored(app, sub_id).data["city"] == "London"


def test_an_edit_without_the_csrf_header_changes_nothing(app, api, form):
    sub_id = api.submit(form["id"], ADA)["id"]
    owner = owner_client(app)
    resp = owner.patch(f"/api/submissions/{sub_id}", json={"data": {**ADA, "city": "Paris"}})
    assert resp.status_code in (400, 403)
    assert _stored(app, sub_id).revision == 1
    resp = owner.patch(
        f"/api/submissions/{sub_id}", json={"data": {**ADA, "city": "Paris"}}, headers=csrf_headers(owner)
    )
    assert resp.status_code == 200 and resp.json["revision"] == 2
    assert "Paris" in owner.get(f"/admin/submissions/{sub_id}").text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not an address"}, "email"),
        ({"plan": "Enterprise"}, "plan"),
        ({"seats": "many"}, "seats"),
        ({"full_name": ""}, "full_name"),
    ],
)
def test_a_bad_edit_names_the_field_and_changes_nothing(app, api, form, change, field):
    sub_id = api.submit(form["id"], ADA)["id"]
    owner = owner_client(app)
    resp = owner.patch(
        f"/api/submissions/{sub_id}", json={"data": {**ADA, **change}}, headers=csrf_headers(owner)
    )
    assert resp.status_code == 422
    assert list(resp.json["error"]["details"]["data"]) == [field]  # shown next to that field
    assert _stored(app, sub_id).revision == 1 and _stored(app, sub_id).data == ADA


def test_another_workspaces_submission_is_not_found(app, api, form, people):  # noqa: F811
    sub_id = api.submit(form["id"], ADA)["id"]
    with app.app_context():
        people.member("owner@elsewhere.test", {people.workspace("Elsewhere"): "owner"})
    stranger = app.test_client()
    assert login(stranger, "owner@elsewhere.test").status_code == 200
    assert stranger.get(f"/admin/submissions/{sub_id}").status_code == 404
    assert stranger.get(f"/admin/forms/{form['id']}/submissions/rows?newer={'0' * 41}").status_code == 404
    resp = stranger.patch(f"/api/submissions/{sub_id}", json={"data": ADA}, headers=csrf_headers(stranger))
    assert resp.status_code == 404
    assert _stored(app, sub_id).revision == 1


# ---- columns ---------------------------------------------------------------------------------------


def _headers(html: str) -> list[str]:
    head = html.split("<thead>", 1)[1].split("</thead>", 1)[0]
    cells = re.findall(r'<th scope="col">(.*?)</th>', head)
    return [c for c in cells if "sr-only" not in c]


def test_columns_show_labels_and_the_chosen_fields(api, form, owner):
    api.submit(form["id"], ADA)
    url = f"/admin/forms/{form['id']}/submissions"
    assert _headers(owner.get(url).text) == ["Received", "Time", "Your name", "E-mail address", "Plan", "Seats"]
    chosen = owner.get(url + "?col=city&col=agree&col=email&col=nosuchfield").text
    assert _headers(chosen) == ["Received", "Time", "E-mail address", "Town", "I agree"]
    assert 'data-label="Town">London</td>' in chosen
    # every field is offered by its label, the chosen ones checked
    assert re.search(r'name="col" value="city" checked> Town', chosen)
    assert re.search(r'name="col" value="plan"> Plan', chosen)
    # the pager and the live rows keep the choice
    assert "col=city" in chosen.split("data-refresh=", 1)[1].split(">", 1)[0]


def test_only_shown_columns_can_be_sorted_by(app, api, form, owner):
    ids = [api.submit(form["id"], {**ADA, "city": city, "seats": n})["id"] for n, city in ((1, "Bath"), (2, "Ayr"))]
    url = f"/admin/forms/{form['id']}/submissions"
    html = owner.get(url + "?col=city&col=seats").text
    sorts = re.findall(r'<option value="(\w+):asc"', html)
    assert sorts == ["seats", "city"]
    assert 'value="plan:asc"' not in html
    by_city = owner.get(url + "?col=city&sort=city:asc").text
    assert by_city.index(ids[1]) < by_city.index(ids[0])  # Ayr before Bath
    hidden = owner.get(url + "?col=seats&sort=city:asc").text  # sorting by a hidden column: newest first
    assert hidden.index(ids[1]) < hidden.index(ids[0]) and 'value="city:asc" selected' not in hidden
    hidden = owner.get(url + "?col=seats&sort=city:desc").text
    assert hidden.index(ids[1]) < hidden.index(ids[0])


# ---- live rows -------------------------------------------------------------------------------------


def _live_url(html: str) -> str:
    return html.split('id="submission-rows" data-live data-live-rows data-refresh="', 1)[1].split('"', 1)[0]


def test_the_list_asks_only_for_rows_newer_than_its_newest(app, api, form, owner):
    first = api.submit(form["id"], ADA)["id"]
    url = f"/admin/forms/{form['id']}/submissions"
    live = _live_url(owner.get(url).text).replace("&amp;", "&")
    assert owner.get(live).text.count("data-submission=") == 0
    second = api.submit(form["id"], {**ADA, "full_name": "Grace Hopper"})["id"]
    third = api.submit(form["id"], {**ADA, "full_name": "Alan Turing"})["id"]
    fresh = owner.get(live).text
    assert re.findall(r'data-submission="(\w+)"', fresh) == [third, second] and first not in fresh
    assert "Grace Hopper" in fresh and "data-select-submission" in fresh
    after = _live_url(fresh).replace("&amp;", "&")
    assert owner.get(after).text.count("data-submission=") == 0
    # polls send X-Live: an unchanged answer is a 304
    etag = owner.get(after, headers={"X-Live": "1"}).headers["ETag"]
    assert owner.get(after, headers={"X-Live": "1", "If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize("args", ["?q=ada", "?sort=oldest", "?page=2", "?from=2026-01-01"])
def test_filtered_or_later_pages_do_not_follow_new_rows(api, form, owner, args):
    api.submit(form["id"], ADA)
    assert "data-live-rows" not in owner.get(f"/admin/forms/{form['id']}/submissions{args}").text


@pytest.mark.parametrize("newer", ["", "abc", "1" * 41 + "x", "20260101"])
def test_a_malformed_newer_key_is_a_400(form, owner, newer):
    assert owner.get(f"/admin/forms/{form['id']}/submissions/rows?newer={newer}").status_code == 400


def test_deleted_submissions_do_not_arrive_live(app, api, form, owner):
    url = f"/admin/forms/{form['id']}/submissions"
    live = _live_url(owner.get(url).text).replace("&amp;", "&")
    gone = api.submit(form["id"], ADA)["id"]
    assert api.delete(f"/api/submissions/{gone}").status_code == 200
    assert gone not in owner.get(live).text


# ---- bulk resend: a replay of chosen submissions ---------------------------------------------------


def _finish_jobs(app, form_id: str) -> None:
    with app.app_context():
        PluginJob.objects(form_id=form_id).update(set__status="completed")


def test_a_replay_of_chosen_submissions_sends_only_their_jobs(app, api, form, sink):
    api.add_plugin(form["id"], "webhook", {"url": sink.url})
    subs = [api.submit(form["id"], {**ADA, "seats": n}) for n in range(3)]
    _finish_jobs(app, form["id"])
    chosen = [subs[0]["id"], subs[2]["id"]]
    resp = api.post(
        "/api/replays",
        {"form_id": form["id"], "submission_ids": chosen, "statuses": ["completed"], "preview": True},
    )
    assert resp.status_code == 202 and resp.json["params"]["submission_ids"] == chosen
    with app.app_context():
        ids = list(Replay().item_ids(Operation.objects.get(id=resp.json["id"]).params))
        found = {job.submission_id for job in PluginJob.objects(id__in=ids)}
    assert found == set(chosen)


@pytest.mark.parametrize(
    "ids",
    [[], ["not-an-id"], ["0" * 23], ["a" * 24] * 101],
)
def test_a_replay_with_bad_submission_ids_is_refused(app, api, form, ids):
    resp = api.post("/api/replays", {"form_id": form["id"], "submission_ids": ids, "statuses": ["completed"]})
    assert resp.status_code == 422 and "submission_ids" in resp.json["error"]["details"]
    with app.app_context():
        assert Operation.objects.count() == 0


def test_a_replay_of_another_workspaces_form_is_not_found(app, api, form, people):  # noqa: F811
    sub_id = api.submit(form["id"], ADA)["id"]
    with app.app_context():
        stranger = people.member("owner@elsewhere.test", {people.workspace("Elsewhere"): "owner"})
    body = {"form_id": form["id"], "submission_ids": [sub_id], "statuses": ["completed"]}
    assert stranger.api.post("/api/replays", body).status_code == 404


def test_the_browser_offers_bulk_actions_to_editors(app, api, form, people):  # noqa: F811
    sub_id = api.submit(form["id"], ADA)["id"]
    editor = _member(app, people, "editor@example.com", "editor")
    html = editor.get(f"/admin/forms/{form['id']}/submissions").text
    assert f'data-select-submission="{sub_id}"' in html and "Select all on this page" in html
    assert 'data-replay-url="/api/replays"' in html and "Delete selected" in html


def test_a_form_without_fields_edits_its_plain_values_only(app, api, owner):
    bare = api.create_form("Bare")
    plain = api.submit(bare["id"], {"topic": "Hello", "count": 2, "ok": True})["id"]
    nested = api.submit(bare["id"], {"topic": "Hi", "tags": ["a", "b"]})["id"]
    edit = owner.get(f"/admin/submissions/{plain}").text.split('id="edit"', 1)[1].split("</details>", 1)[0]
    assert 'data-name="data.topic" data-kind="text"' in edit and 'value="Hello"' in edit
    assert 'data-name="data.count" data-kind="number"' in edit
    assert 'data-name="data.ok" data-kind="checkbox"' in edit
    assert 'id="edit"' not in owner.get(f"/admin/submissions/{nested}").text  # a text box would flatten the list
