"""Newest-first pages read along an (anchor, time) index: a time window never becomes a condition of an
equality read (on the embedded store that is a walk of every row the anchor has)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from app.models import PluginJob, newest
from app.models.newest import newest_rows
from tests.support.commands import commands_sent

START = dt.datetime(2026, 1, 1)


@pytest.fixture
def rows(app):
    """137 rows of one form and 20 of another, an hour apart in a shuffled order, some failed."""
    rng = random.Random(7)
    hours = list(range(157))
    rng.shuffle(hours)
    docs = [
        {"form_id": "a" if n < 137 else "b", "status": "failed" if n % 3 == 0 else "completed",
         "created_at": START + dt.timedelta(hours=hour)}
        for n, hour in enumerate(hours)
    ]
    with app.app_context():
        coll = PluginJob._get_collection().database["newest_rows_probe"]
        coll.create_index([("form_id", 1), ("created_at", 1)])
        coll.insert_many(docs)
        yield coll


@pytest.mark.parametrize("hours", [0, 1, 60, 100, 136, 156, 157, 400])
def test_a_page_ending_at_a_time_holds_exactly_the_rows_before_it(rows, monkeypatch, hours):
    monkeypatch.setattr(newest, "SINCE_PAGE", 4)  # (the rows beside a status are read 4 at a time)
    until = START + dt.timedelta(hours=hours)
    for anchors, where in (([("form_id", "a")], {}), ([("form_id", "a"), ("form_id", "b")], {"status": {"$eq": "failed"}})):
        docs = list(rows.find({"form_id": {"$in": [v for _, v in anchors]}, **where}))
        want = sorted((d for d in docs if d["created_at"] < until), key=lambda d: d["created_at"], reverse=True)
        with commands_sent() as sent:
            got = newest_rows(rows, anchors, "created_at", where, 3, 10, until=until)
        assert [d["_id"] for d in got] == [d["_id"] for d in want[3:13]]
        filters = [cmd["filter"] for name, cmd in sent if name == "find"]
        assert filters and all("created_at" not in f for f in filters)


@pytest.mark.parametrize("hours", [0, 7, 50, 136, 200])
def test_rows_since_a_time_are_read_a_page_at_a_time_by_equality(rows, monkeypatch, hours):
    monkeypatch.setattr(newest, "SINCE_PAGE", 7)
    since = START + dt.timedelta(hours=hours)
    want = sorted(
        (d["_id"] for d in rows.find({"form_id": "a"}) if d["created_at"] >= since),
        key=lambda i: rows.find_one({"_id": i})["created_at"],
        reverse=True,
    )
    with commands_sent() as sent:
        got = [d["_id"] for d in newest.rows_since(rows, ("form_id", "a"), "created_at", since, {"status": 1})]
    assert got == want
    assert all(cmd["filter"] == {"form_id": {"$eq": "a"}} for name, cmd in sent if name == "find")


def test_a_page_that_would_read_too_far_past_a_date_asks_to_narrow_the_list(rows, monkeypatch):
    monkeypatch.setattr(newest, "SINCE_PAGE", 4)
    monkeypatch.setattr(newest, "MAX_SCAN", 8)
    until, failed = START + dt.timedelta(hours=157), {"status": {"$eq": "failed"}}
    assert len(newest_rows(rows, [("form_id", "a")], "created_at", failed, 0, 2, until=until)) == 2
    with pytest.raises(newest.TooFarBack):
        newest_rows(rows, [("form_id", "a")], "created_at", failed, 0, 10, until=until)


def test_a_test_of_each_row_done_here_keeps_exactly_the_rows_it_passes(rows, monkeypatch):
    monkeypatch.setattr(newest, "SINCE_PAGE", 4)
    odd_hour = lambda doc: doc["created_at"].hour % 2 == 1  # noqa: E731
    failed = {"status": {"$eq": "failed"}}
    docs = [d for d in rows.find({"form_id": "a", "status": "failed"}) if odd_hour(d)]
    want = sorted(docs, key=lambda d: d["created_at"], reverse=True)
    with commands_sent() as sent:
        got = newest_rows(rows, [("form_id", "a")], "created_at", failed, 2, 5, keep=odd_hour)
    assert [d["_id"] for d in got] == [d["_id"] for d in want[2:7]]
    assert all(cmd["filter"] == {"form_id": {"$eq": "a"}, **failed} for name, cmd in sent if name == "find")


def test_a_few_rows_in_a_window_far_behind_the_newest_are_found_without_reading_past_its_start(rows, monkeypatch):
    """Found by a review: the rows older than ``since`` were read on to MAX_SCAN, and a narrow window said
    "narrow it"."""
    monkeypatch.setattr(newest, "SINCE_PAGE", 4)
    monkeypatch.setattr(newest, "MAX_SCAN", 40)
    since, until = START + dt.timedelta(hours=100), START + dt.timedelta(hours=110)
    failed = {"status": {"$eq": "failed"}}
    want = sorted(
        (d for d in rows.find({"form_id": "a", "status": "failed"}) if since <= d["created_at"] < until),
        key=lambda d: d["created_at"], reverse=True,
    )
    got = newest_rows(rows, [("form_id", "a")], "created_at", failed, 0, 26, since, until)
    assert want and [d["_id"] for d in got] == [d["_id"] for d in want]
