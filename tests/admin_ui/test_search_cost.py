"""What a search reads: an e-mail lookup counts the postings of its rare word, not of "example" and "com"."""

from __future__ import annotations

import datetime as dt

import pytest
from pymongo.collection import Collection

from tests.admin_ui.test_submissions_browser import FIELDS, _listed, _seed

START = dt.datetime(2026, 2, 1, 9)


@pytest.fixture
def counted(monkeypatch) -> list[str]:
    """The posting keys (their words) read from ``submission_terms``, in order."""
    words: list[str] = []
    find = Collection.find

    def recording(self, *args, **kwargs):
        if self.name == "submission_terms" and args and "key" in args[0]:
            words.append(args[0]["key"]["$eq"].split(" ", 1)[1])
        return find(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "find", recording)
    return words


@pytest.fixture
def people(app, api):
    form = api.create_form("People", FIELDS)
    rows = [
        ({"email": f"person{i}@example.com", "name": f"Ada Common{i % 2}"}, START + dt.timedelta(minutes=i))
        for i in range(60)
    ]
    return form, _seed(app, form, rows)


@pytest.mark.parametrize("n", [0, 7, 59])
def test_an_email_lookup_reads_only_the_postings_of_its_rare_word(owner, people, counted, n):
    form, ids = people
    found = _listed(owner, f"/admin/forms/{form['id']}/submissions?q=person{n}%40example.com")
    assert found == [ids[n]]
    assert "example" not in counted and "com" not in counted and f"person{n}" in counted


@pytest.mark.parametrize(("query", "expected"), [("Ada common0", 30), ("common1 ada", 30), ("ada", 60)])
def test_a_search_of_common_words_still_finds_every_match(owner, people, counted, query, expected):
    form, ids = people
    url = f"/admin/forms/{form['id']}/submissions?q={query.replace(' ', '+')}"
    listed = _listed(owner, url) + _listed(owner, url + "&page=2") + _listed(owner, url + "&page=3")
    assert len(listed) == len(set(listed)) == expected
