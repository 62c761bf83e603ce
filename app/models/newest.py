"""Newest-first pages of jobs or execution logs that the store serves from an index at any size: one read
per anchor (equality on a form or a workspace, each with a compound (anchor, time) index), merged in time
order. A ``$in`` over several forms, or an ``_id`` range, makes nx-27017 read every matching row in Python
and sort them all: the executions page took 56 s over 600,000 jobs, and held the store meanwhile."""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from pymongo.collection import Collection

MAX_ROWS = 10_000  # how far back a page may reach (skip + its rows): a read per anchor fetches that many
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
) -> list[dict[str, Any]]:
    """Rows ``skip`` to ``skip + limit`` of the documents matching ``where`` and any one of ``anchors``
    ((field, value) pairs, each served by a (field, ``time_field``) index), newest first, none older than
    ``since``. (``since`` is applied to the merged rows, not in the reads: a range beside the equality
    makes nx-27017 walk the anchor's rows.)"""
    want = skip + limit
    if want > MAX_ROWS:
        raise TooFarBack(f"A list reaches back at most {MAX_ROWS:,} rows; narrow it to see older ones.")
    reads: list[Iterator[dict[str, Any]]] = [
        coll.find({field: {"$eq": value}, **where}, sort=[(time_field, -1)], limit=want)
        for field, value in anchors
    ]
    merged = heapq.merge(*reads, key=lambda doc: _time(doc, time_field), reverse=True)
    recent = itertools.takewhile(lambda doc: since is None or _time(doc, time_field) >= since, merged)
    return list(itertools.islice(recent, skip, want))


def _time(doc: dict[str, Any], field: str) -> dt.datetime:
    moment = doc.get(field)
    return moment.replace(tzinfo=None) if isinstance(moment, dt.datetime) else EPOCH
