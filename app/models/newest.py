"""Newest-first pages of jobs or execution logs that the store serves from an index at any size: one read
per anchor (equality on a form or a workspace, each with a compound (anchor, time) index), merged in time
order. A ``$in`` over several forms, or an ``_id`` range, makes nx-27017 read every matching row in Python
and sort them all: the executions page took 56 s over 600,000 jobs, and held the store meanwhile."""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pymongo.collection import Collection

from app.models.common import as_datetime

MAX_ROWS = 10_000  # how far back a page may reach (skip + its rows): a read per anchor fetches that many
SINCE_PAGE = 1000  # rows a read of ``rows_since`` (and of ``_scan``)
MAX_SCAN = 50_000  # rows ``_scan`` reads for one anchor
EPOCH = dt.datetime(1970, 1, 1)


class TooFarBack(ValueError):
    """A page past MAX_ROWS: narrow the list (a form, an integration, a time range) instead."""


def newest_rows(
    coll: Collection,
    anchors: Iterable[tuple[str, str]],
    time_field: str,
    where: dict[str, Any],
    skip: int,
    limit: int,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    keep: Callable[[dict[str, Any]], bool] | None = None,
) -> list[dict[str, Any]]:
    """Rows ``skip`` to ``skip + limit`` of the documents matching ``where`` and any one of ``anchors``
    ((field, value) pairs, each served by a (field, ``time_field``) index), newest first, none older than
    ``since`` nor at or after ``until``. (Neither is a condition of the reads: a time range beside the
    equality makes nx-27017 walk the anchor's rows, 13 s for a form's 300,000 jobs. ``since`` is applied
    to the merged rows; ``until`` by ``_scan``.) ``keep``: a test of each row done here, not by the store
    (for what a query cannot say without a walk); the anchor's rows are then read by ``_scan``.)"""
    want = skip + limit
    if want > MAX_ROWS:
        raise TooFarBack(f"A list reaches back at most {MAX_ROWS:,} rows; narrow it to see older ones.")
    anchors = list(anchors)
    own = skip if len(anchors) == 1 else 0  # (one anchor: the store skips along its index, not this code)
    reads: list[Iterator[dict[str, Any]]] = []
    for field, value in anchors:
        anchor: dict[str, Any] = {field: {"$eq": value}}
        if keep is not None or (until is not None and _equalities(where)):
            # ``keep``: ``where`` read by the store, ``keep`` tested here; a date alone: the anchor's rows
            # from the date's, ``where`` tested here
            filt, test = ({**anchor, **where}, keep) if keep is not None else (anchor, _test(where))
            newer = _first_before(coll, filt, time_field, until) if until is not None else 0
            reads.append(_scan(coll, filt, time_field, test, (newer, since, until), own, want - own))
            continue
        filt = {**anchor, **where}
        if until is not None:  # (the store reads these rows in Python anyway: the range costs nothing more)
            filt[time_field] = {"$lt": until}
        reads.append(coll.find(filt, sort=[(time_field, -1)], skip=own, limit=want - own))
    merged = heapq.merge(*reads, key=lambda doc: _time(doc, time_field), reverse=True)
    recent = itertools.takewhile(lambda doc: since is None or _time(doc, time_field) >= since, merged)
    return list(itertools.islice(recent, skip - own, want - own))


def _scan(
    coll: Collection,
    filt: dict[str, Any],
    time_field: str,
    test: Callable[[dict[str, Any]], bool],
    window: tuple[int, dt.datetime | None, dt.datetime | None],
    skip: int,
    limit: int,
) -> Iterator[dict[str, Any]]:
    """``filt``'s rows newest first from its ``offset``-th (``window``: offset, since, until), those in
    [since, until) that pass ``test``, from the ``skip``-th of those: SINCE_PAGE rows a read, skipped by the
    store, the rest done here; it stops at the first row older than ``since``. TooFarBack past MAX_SCAN
    rows read."""
    (offset, since, until), found = window, 0
    for read, page in enumerate(_pages(coll, filt, time_field, offset)):
        if read * SINCE_PAGE >= MAX_SCAN:
            raise TooFarBack(f"Past {MAX_SCAN:,} rows read for one list; narrow it (a form, a shorter range).")
        for doc in page:
            moment = _time(doc, time_field)
            if since is not None and moment < since:
                return
            if (until is not None and moment >= until) or not test(doc):
                continue  # (one written since the offset was counted, or not wanted)
            found += 1
            if found > skip:
                yield doc
            if found >= skip + limit:
                return


def _pages(
    coll: Collection, filt: dict[str, Any], time_field: str, offset: int = 0, fields: dict[str, int] | None = None
) -> Iterator[list[dict[str, Any]]]:
    """``filt``'s rows newest first from the ``offset``-th, SINCE_PAGE a read (the skip counted by the store
    along the index), until a short page."""
    while page := list(coll.find(filt, fields, sort=[(time_field, -1)], skip=offset, limit=SINCE_PAGE)):
        yield page
        if len(page) < SINCE_PAGE:
            return
        offset += len(page)


def _test(where: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    """``where``'s terms (``$eq`` or ``$in``), as a test of a row."""
    wanted = {name: term.get("$in", [term.get("$eq")]) for name, term in where.items()}
    return lambda doc: all(doc.get(name) in values for name, values in wanted.items())


def rows_since(
    coll: Collection, anchor: tuple[str, str], time_field: str, since: dt.datetime, fields: dict[str, int]
) -> Iterator[dict[str, Any]]:
    """The anchor's rows at or after ``since``, newest first, SINCE_PAGE a read along its (anchor, time)
    index (``fields`` of each, with the time). Each read is short whatever the anchor holds; the range
    itself beside the equality makes nx-27017 walk all of the anchor's rows (15 s for a workspace's
    600,000 execution logs)."""
    newest = {anchor[0]: {"$eq": anchor[1]}}
    for page in _pages(coll, newest, time_field, 0, {**fields, time_field: 1}):
        fresh = list(itertools.takewhile(lambda doc: _time(doc, time_field) >= since, page))
        yield from fresh
        if len(fresh) < len(page):
            return


def _first_before(coll: Collection, anchor: dict[str, Any], time_field: str, until: dt.datetime) -> int:
    """How many of the anchor's rows, newest first, are at or after ``until``: found by reading one row at
    doubling offsets, then halving the gap. A skip along the index is counted in the store's own code (28
    ms past 290,000 rows of a form on nx-27017), so this is a few dozen short reads, never a walk."""

    def newer(offset: int) -> bool:  # the row at ``offset`` is at or after ``until`` (False: none there)
        row = next(iter(coll.find(anchor, {time_field: 1}, sort=[(time_field, -1)], skip=offset, limit=1)), None)
        return row is not None and _time(row, time_field) >= until

    if not newer(0):
        return 0
    low, high = 0, 1  # newer(low) holds; find a ``high`` where it does not
    while newer(high):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if newer(middle) else (low, middle)
    return high


def _equalities(filt: dict[str, Any]) -> bool:
    """Whether ``filt`` has ``$eq`` and ``$in`` terms only (``_test`` checks them on what ``_scan`` reads)."""
    return all(isinstance(term, dict) and list(term) in (["$eq"], ["$in"]) for term in filt.values())


def _time(doc: dict[str, Any], field: str) -> dt.datetime:
    """A row's time, naive UTC (EPOCH: none); nx-27017 keeps a time written by ``$set`` as a string."""
    moment = as_datetime(doc.get(field))
    return moment.replace(tzinfo=None) if moment is not None else EPOCH
