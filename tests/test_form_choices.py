"""A required choice must offer options: without any, the hosted form could never be submitted."""

from __future__ import annotations

import pytest

CHOICE_MESSAGE = "A required choice needs at least one option"


@pytest.mark.parametrize("options", [None, [], [""], ["  ", ""]])
def test_a_required_select_without_options_is_refused_on_create_and_nothing_is_saved(api, options):
    field = {"name": "size", "type": "select", "required": True}
    if options is not None:
        field["options"] = options
    resp = api.post("/api/forms", {"name": "Shirts", "fields": [{"name": "email"}, field]})
    assert resp.status_code == 422
    assert CHOICE_MESSAGE in resp.json["error"]["details"]["fields"]["1"]["options"][0]
    assert api.get("/api/forms").json["items"] == []


def test_a_required_select_without_options_is_refused_on_update_and_the_form_is_unchanged(api):
    form = api.create_form("Shirts", [{"name": "size", "type": "select", "required": True, "options": ["S"]}])
    resp = api.patch(
        f"/api/forms/{form['id']}", {"fields": [{"name": "size", "type": "select", "required": True}]}
    )
    assert resp.status_code == 422
    assert CHOICE_MESSAGE in resp.json["error"]["details"]["fields"]["0"]["options"][0]
    assert api.get(f"/api/forms/{form['id']}").json["fields"][0]["options"] == ["S"]


@pytest.mark.parametrize(
    "field",
    [
        {"name": "size", "type": "select", "required": True, "options": ["S", "M"]},
        {"name": "size", "type": "select", "required": False},  # optional: it can be left empty
        {"name": "note", "type": "text", "required": True},  # not a choice
    ],
)
def test_choices_that_can_be_answered_are_accepted(api, field):
    assert api.post("/api/forms", {"name": "Shirts", "fields": [field]}).status_code == 201
