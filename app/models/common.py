"""Shared bits of the documents: UTC timestamps and id parsing."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar, overload

from bson import ObjectId
from bson.errors import InvalidId
from mongoengine import Document

D = TypeVar("D", bound=Document)


def utcnow() -> dt.datetime:
    """Naive UTC at millisecond precision, as BSON stores it."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@overload
def as_datetime(value: dt.datetime | str | float) -> dt.datetime: ...
@overload
def as_datetime(value: None) -> None: ...
@overload
def as_datetime(value: dt.datetime | str | float | None) -> dt.datetime | None: ...
def as_datetime(value: dt.datetime | str | float | None) -> dt.datetime | None:
    """A naive-UTC datetime from a stored value.

    nx-27017 stores datetimes written by ``$set`` as strings, and the engine keeps the times it compares
    as epoch seconds (portable to both stores); reads go through here.
    """
    if value is None or isinstance(value, dt.datetime):
        return value
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC).replace(tzinfo=None)
    parsed = dt.datetime.fromisoformat(value)
    return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def isoformat(value: dt.datetime | str | float | None) -> str | None:
    value = as_datetime(value)
    return (
        None
        if value is None
        else value.replace(tzinfo=dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def created_field(model: type[Document]) -> str:
    """The field holding when a model's documents were made (an execution log's: when it ran)."""
    return "created_at" if "created_at" in model._fields else "executed_at"


def newest_first(model: type[Document]) -> tuple[str, str]:
    """Sort keys listing a model's documents newest first: creation time, then id as a stable tiebreak.

    Ids alone do not order by time: two processes creating documents in the same second interleave.
    """
    return f"-{created_field(model)}", "-id"


def parse_object_id(value: str | None) -> ObjectId | None:
    """An ObjectId from a string, or None when it is not one (so lookups answer 404, not 500)."""
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


def find_by_id(model: type[D], object_id: str | None, **filters: Any) -> D | None:
    """The document with this id (and ``filters``), or None when there is none or the id is malformed."""
    oid = parse_object_id(object_id)
    return model.objects(id=oid, **filters).first() if oid else None
