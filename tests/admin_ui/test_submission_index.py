"""The submissions browser reads indexes: words through their postings, pages by key, a bounded number of
candidates tested in Python (said on the page), and forms stored before the index read by date until
``flask reindex-submissions`` has run."""

from __future__ import annotations

import datetime as dt
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from app.admin import submission_search
from app.engine import indexer
from app.models import Submission, SubmissionTerm, search_terms
from tests.admin_ui.test_submissions_browser import FIELDS, _listed, _seed

START = dt.datetime(2026, 1, 1)
NO_MATCH = "No submission matches these filters."


@pytest.fixture
def small_budget(monkeypatch) -> int:
    """Pages may test 20 candidates in Python: anything found past that came from an index."""
    monkeypatch.setattr(submission_search, "SCAN_LIMIT", 20)
    return 20


def _people(app, form: dict, n: int, indexed: bool = True) -> list[str]:
    """``n`` submissions a minute apart, oldest first: person i is "p{i}@example.com", named after its
    parity ("odd"/"even") and, for the oldest, "Zoë Rare"."""
    rows = [
        (
            {"email": f"p{i}@example.com", "name": "Zoë Rare" if i == 0 else ("odd" if i % 2 else "even")},
            START + dt.timedelta(minutes=i),
        )
        for i in range(n)
    ]
    return _seed(app, form, rows, indexed=indexed)


def _note(owner, url: str) -> str:
    text = owner.get(url).text
    return " ".join(unescape(p.split(">", 1)[1].split("</p>", 1)[0]) for p in text.split("data-search-note")[1:])


def test_words_e_mails_fields_and_days_are_found_past_what_python_may_test(app, api, owner, small_budget):
    form = api.create_form("People", FIELDS)
    ids = _people(app, form, 300)
    url = f"/admin/forms/{form['id']}/submissions"
    oldest = ids[0]
    for query in ("?q=rare", "?q=ZOË", "?q=zoë+rare", "?q=p0@example.com", "?field=name&value=rare", "?q=" + oldest):
        assert _listed(owner, url + query) == [oldest], query
    assert _listed(owner, url + "?q=p150@example.com") == [ids[150]]
    assert _listed(owner, url + "?from=2026-01-01&to=2026-01-01&sort=oldest")[:3] == ids[:3]
    assert owner.get(url + "?from=2026-01-02").text.count("data-submission=") == 0  # 300 minutes: one day
    for nothing in ("?q=nobody", "?q=rare+odd", "?field=email&value=rare", "?q=p0@elsewhere.org"):
        page = owner.get(url + nothing).text
        assert NO_MATCH in page and "data-search-note" not in page, nothing


def test_a_search_that_tests_more_candidates_than_allowed_says_so(app, api, owner, small_budget):
    form = api.create_form("People", FIELDS)
    _people(app, form, 120)
    url = f"/admin/forms/{form['id']}/submissions"
    for query in ("?q=odd+even", "?q=example+even+odd", "?field=name&value=odd&q=even"):
        assert NO_MATCH in owner.get(url + query).text
        assert f"Searched the newest {small_budget:,} candidates" in _note(owner, url + query), query
    assert len(_listed(owner, url + "?q=odd")) == 25  # one word: every posting is a match, no note
    assert _note(owner, url + "?q=odd") == ""


def test_deep_pages_follow_the_last_rows_key_and_page_numbers_still_work(app, api, owner):
    form = api.create_form("Burst", FIELDS)
    same_second = [({"name": f"n{i}"}, START) for i in range(40)]
    ids = _seed(app, form, same_second) + _people(app, form, 30)
    url = f"/admin/forms/{form['id']}/submissions"
    newest_first = list(reversed(ids[40:]))
    seen, link = [], url
    while link:
        page = owner.get(link).text
        seen += _listed(owner, link)
        nxt = page.split('rel="next"', 1)[0].rsplit('href="', 1)[-1].split('"', 1)[0] if 'rel="next"' in page else ""
        link = unescape(nxt)
        if link:
            assert parse_qs(urlsplit(link).query)["after"], link
    assert len(seen) == len(set(seen)) == 70
    assert seen[:30] == newest_first
    assert sorted(seen[30:]) == sorted(ids[:40])
    assert _listed(owner, url + "?page=2") == seen[25:50]
    assert _listed(owner, url + "?page=3&sort=oldest") == list(reversed(seen))[50:]


def test_forms_stored_before_the_index_are_read_by_date_until_reindexed(app, api, owner, small_budget):
    form = api.create_form("Old", FIELDS)
    ids = _people(app, form, 60, indexed=False)
    url = f"/admin/forms/{form['id']}/submissions"
    assert _listed(owner, url) == list(reversed(ids))[:25]
    assert "flask reindex-submissions" in _note(owner, url)
    assert "flask reindex-submissions" in _note(owner, url + "?q=rare")  # the oldest: past the budget
    assert _listed(owner, url + "?q=p59@example.com") == [ids[59]]

    result = app.test_cli_runner().invoke(args=["reindex-submissions"])
    assert result.exit_code == 0 and "done: 60 submissions indexed" in result.output
    assert _note(owner, url + "?q=rare") == "" and _listed(owner, url + "?q=rare") == [ids[0]]
    again = app.test_cli_runner().invoke(args=["reindex-submissions"])
    assert "done: 0 submissions indexed" in again.output
    rebuilt = app.test_cli_runner().invoke(args=["reindex-submissions", "--all"])
    assert "done: 60 submissions indexed" in rebuilt.output
    with app.app_context():
        held = SubmissionTerm._get_collection().find({"key": {"$regex": f"^{form['id']} "}}, {"_id": 1})
        mine = sorted(p["_id"].split()[1] for p in held if p["_id"].startswith(ids[0]))
        assert mine == sorted(["zoë", "rare", "p0", "example", "com"])


def test_the_intake_and_edits_keep_the_index_and_deleted_submissions_stay_hidden(app, api, owner):
    form = api.create_form("Live", FIELDS)
    first = api.submit(form["id"], {"email": "ada@example.com", "name": "Ada Lovelace"})["id"]
    second = api.submit(form["id"], {"email": "grace@example.com", "name": "Grace Hopper"})["id"]
    url = f"/admin/forms/{form['id']}/submissions"
    assert _listed(owner, url) == [second, first]
    assert _listed(owner, url + "?q=lovelace") == [first]
    edited = api.patch(f"/api/submissions/{first}", {"data": {"email": "ada@example.com", "name": "Ada King"}})
    assert edited.status_code == 200
    assert _listed(owner, url + "?q=lovelace") == [] and _listed(owner, url + "?q=king") == [first]
    assert api.delete(f"/api/submissions/{second}").status_code in (200, 204)
    assert _listed(owner, url + "?q=hopper") == []
    assert _listed(owner, url + "?q=hopper&deleted=1") == [second]
    assert _listed(owner, url + "?deleted=1") == [second, first]
    with app.app_context():
        assert all(s.sort_key for s in Submission.objects(form_id=form["id"]))


def test_a_large_submission_costs_the_index_a_bounded_number_of_postings(app, api, owner):
    form = api.create_form("Big", FIELDS)
    long_word = "x" * 100
    text = " ".join(f"w{i}" for i in range(1_000))
    sub = api.submit(form["id"], {"name": f"{long_word} {text}"})["id"]
    url = f"/admin/forms/{form['id']}/submissions"
    for indexed in (False, True):  # (found before the indexer's pass as after it)
        if indexed:
            with app.app_context():
                indexer.drain()
                held = list(SubmissionTerm._get_collection().find({"key": {"$regex": f"^{form['id']} "}}, {"_id": 1}))
            assert len(held) == search_terms.MAX_TERMS
        assert _listed(owner, url + f"?q={long_word}") == [sub]  # cut to MAX_WORD, the query too
        assert _listed(owner, url + "?q=w5") == [sub]
        assert _listed(owner, url + "?q=w999") == []  # past the first MAX_TERMS words


def test_a_form_stored_before_the_index_sorts_by_a_field_over_more_than_one_page(app, api, owner):
    form = api.create_form("Old", FIELDS)
    ids = _seed(app, form, [({"age": i}, START + dt.timedelta(minutes=i)) for i in range(40)], indexed=False)
    url = f"/admin/forms/{form['id']}/submissions"
    assert _listed(owner, url + "?sort=age:asc") == ids[:25]
    assert _listed(owner, url + "?sort=age:asc&page=2") == ids[25:]
    assert _listed(owner, url + "?page=2") == list(reversed(ids))[25:]
