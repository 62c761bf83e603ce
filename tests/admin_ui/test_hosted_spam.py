"""The hosted form speaks plainly and keeps bots out without a third-party service: a honeypot field and a
signed time the page was shown. The JSON intake and forms posting to the API from other sites are not
concerned."""

from __future__ import annotations

import html as htmllib
import re
import time

import pytest

from app.hosted import spam
from app.models import Submission

FIELDS = [
    {"name": "name", "label": "Full name", "type": "text", "required": True},
    {"name": "email", "label": "Email", "type": "email", "required": True},
    {"name": "age", "label": "Age", "type": "number"},
    {"name": "plan", "label": "Plan", "type": "select", "options": ["Free", "Pro"]},
]
HTML = {"Accept": "text/html"}


@pytest.fixture
def form(api) -> dict:
    return api.create_form("Sign up", FIELDS)


@pytest.fixture
def later(monkeypatch):
    """Posts arrive a minute after the page was shown (as a person filling it in would send it)."""
    monkeypatch.setattr(spam, "clock", lambda: time.time() + 60)


def _shown(client, form_id: str) -> dict[str, str]:
    """The hidden fields of the page as a browser would send them back."""
    page = client.get(f"/f/{form_id}").get_data(as_text=True)
    stamp = re.search(r'name="fh\.shown" value="([^"]+)"', page)
    assert stamp and 'name="fh.website"' in page
    return {"fh.shown": htmllib.unescape(stamp.group(1)), "fh.website": ""}


def _stored(app) -> list[dict]:
    with app.app_context():
        return [s.data for s in Submission.objects()]


@pytest.mark.parametrize(
    "sent, expected",
    [
        ({"age": ""}, {"name": "Please fill in Full name.", "email": "Please fill in Email."}),
        (
            {"name": "Ada", "email": "nope", "age": "old", "plan": "Gold"},
            {
                "email": "Please enter an email address for Email, like name@example.com.",
                "age": "Please enter a number for Age.",
                "plan": "Please choose one of the options for Plan.",
            },
        ),
    ],
)
def test_the_hosted_forms_errors_name_the_field_in_plain_words(app, form, sent, expected):
    refused = app.test_client().post(f"/f/{form['id']}", data=sent, headers=HTML)
    assert refused.status_code == 422
    page = htmllib.unescape(refused.get_data(as_text=True))
    for name, message in expected.items():
        assert re.search(rf'id="fh-{name}-error"[^>]*>\s*{re.escape(message)}', page), (name, message)
    assert "Missing data for required field." not in page


def test_the_json_intake_keeps_its_messages(api, form):
    resp = api.post(f"/api/forms/{form['id']}/submissions", {"data": {}})
    assert resp.json["error"]["details"]["data"]["name"] == ["Missing data for required field."]


@pytest.mark.parametrize("bait", ["https://spam.example", "x"])
def test_a_filled_honeypot_is_refused_quietly(app, form, later, bait):
    app.config["HOSTED_MIN_SECONDS"] = 5
    client = app.test_client()
    sent = {**_shown(client, form["id"]), "fh.website": bait, "name": "Bot", "email": "bot@example.com"}
    resp = client.post(f"/f/{form['id']}", data=sent, headers=HTML)
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/f/{form['id']}/thanks")
    assert _stored(app) == []


@pytest.mark.parametrize(
    "stamp", [None, "forged", "other-form"], ids=["no stamp", "forged stamp", "another form's stamp"]
)
def test_a_post_without_a_genuine_stamp_is_refused_quietly(app, api, form, later, stamp):
    app.config["HOSTED_MIN_SECONDS"] = 5
    sent = {"name": "Bot", "email": "bot@example.com"}
    if stamp == "other-form":
        other = api.create_form("Other", FIELDS)
        with app.app_context():
            sent["fh.shown"] = spam.shown_stamp(app.config, other["id"])
    elif stamp:
        sent["fh.shown"] = stamp
    resp = app.test_client().post(f"/f/{form['id']}", data=sent, headers=HTML)
    assert resp.status_code == 303
    assert _stored(app) == []


def test_a_post_sooner_than_a_person_could_is_shown_again_with_its_values(app, form):
    app.config["HOSTED_MIN_SECONDS"] = 60
    client = app.test_client()
    sent = {**_shown(client, form["id"]), "name": "Ada", "email": "ada@example.com"}
    resp = client.post(f"/f/{form['id']}", data=sent, headers=HTML)
    assert resp.status_code == 422
    page = htmllib.unescape(resp.get_data(as_text=True))
    assert "Please check your answers, then send the form again." in page
    assert 'value="Ada"' in page and 'value="ada@example.com"' in page
    assert _stored(app) == []


def test_a_person_who_took_their_time_is_accepted_and_the_hidden_fields_are_not_stored(app, form, later):
    app.config["HOSTED_MIN_SECONDS"] = 5
    client = app.test_client()
    sent = {**_shown(client, form["id"]), "name": "Ada", "email": "ada@example.com"}
    resp = client.post(f"/f/{form['id']}", data=sent, headers=HTML)
    assert resp.status_code == 303
    assert _stored(app) == [{"name": "Ada", "email": "ada@example.com"}]


def test_the_api_intake_and_pasted_snippets_are_not_concerned(app, api, form):
    app.config["HOSTED_MIN_SECONDS"] = 60
    assert (
        api.post(
            f"/api/forms/{form['id']}/submissions", {"data": {"name": "A", "email": "a@x.io"}}
        ).status_code
        == 202
    )
    posted = app.test_client().post(
        f"/api/forms/{form['id']}/submissions", data={"name": "B", "email": "b@x.io"}, headers=HTML
    )
    assert posted.status_code == 303
    assert len(_stored(app)) == 2
