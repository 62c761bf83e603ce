"""Cutting a stream of items into lists of a bounded size (one store write or ``$in`` per list), and reading a
whole collection so."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in order, ``size`` at a time (the last list may be shorter); reads ``items`` lazily."""
    if size < 1:
        raise ValueError("size must be at least 1")
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def id_pages(coll: Any, fields: dict[str, int], size: int) -> Iterator[list[dict[str, Any]]]:
    """Every document of ``coll`` (``fields`` of each) in ``_id`` order, ``size`` per read, each read after
    the ones before by skipping them (documents written or removed meanwhile may be missed or read twice).
    Why not one open cursor: nx-27017 reads every row of a query before it answers the first, and 3,000,000
    jobs took the store past 24 GB. Why not ``_id: {$gt: last}``: nx-27017 serves that in Python over the
    whole collection too; a skip is SQLite's (23 ms past 20,000 rows, as for the first)."""
    if size < 1:  # (a limit of 0 is none: one read of everything)
        raise ValueError("size must be at least 1")
    read = 0
    while rows := list(coll.find({}, fields, sort=[("_id", 1)], skip=read, limit=size)):
        yield rows
        read += len(rows)
