"""Finding submissions for the browser and the exports: filters from the query string, matching in the
store where it can (scope, dates, order) and in Python where it must (text over every value), streamed.

Nothing is loaded whole: pages and exports iterate one cursor, so 100,000 rows never sit in memory.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.models import Form, Submission

PER_PAGE = 25
SORTS = {"newest": [("created_at", -1), ("_id", -1)], "oldest": [("created_at", 1), ("_id", 1)]}
FIELD_SORT = re.compile(r"^(?P<field>[A-Za-z_][A-Za-z0-9_\-]{0,63}):(?P<dir>asc|desc)$")


def viewer_zone(name: str | None) -> ZoneInfo:
    """The viewer's time zone (sent by the page's script); UTC when absent or unknown."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def zone_name(args: Mapping[str, str], cookies: Mapping[str, str]) -> str:
    """The zone a page was asked for (``?tz=``), else the one the script remembered (cookie ``fh_tz``)."""
    return (args.get("tz") or unquote(cookies.get("fh_tz", ""))).strip()


def _day(raw: str, zone: ZoneInfo) -> dt.datetime | None:
    """Midnight of a ``YYYY-MM-DD`` day in the viewer's zone, as naive UTC (how times are stored)."""
    try:
        day = dt.date.fromisoformat(raw.strip())
    except ValueError:
        return None
    return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC).replace(tzinfo=None)


def text_of(value: Any) -> str:
    """A stored value as the text a person would search and read (lists joined, no ``.0`` floats)."""
    if isinstance(value, list):
        return ", ".join(text_of(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return ""
    return str(value)


@dataclass
class Filters:
    """The browser's filters, read from the query string (unknown or bad values are ignored)."""

    q: str = ""
    form_id: str = ""
    start: str = ""
    end: str = ""
    field: str = ""
    value: str = ""
    sort: str = "newest"
    tz: str = ""
    deleted: bool = False
    page: int = 1

    @classmethod
    def read(cls, args: Mapping[str, str], form_id: str = "", zone: str = "") -> Filters:
        get = lambda name: (args.get(name) or "").strip()  # noqa: E731
        try:
            page = max(1, int(get("page") or 1))
        except ValueError:
            page = 1
        sort = get("sort")
        if sort not in SORTS and not FIELD_SORT.match(sort):
            sort = "newest"
        return cls(
            q=get("q"),
            form_id=form_id or get("form_id"),
            start=get("from"),
            end=get("to"),
            field=get("field"),
            value=get("value"),
            sort=sort,
            tz=get("tz") or zone,
            deleted=get("deleted") == "1",
            page=page,
        )

    def as_args(self, **changes: Any) -> dict[str, Any]:
        """The query string of these filters (empty ones left out), with ``changes`` applied."""
        args = {
            "q": self.q,
            "form_id": self.form_id,
            "from": self.start,
            "to": self.end,
            "field": self.field,
            "value": self.value,
            "sort": "" if self.sort == "newest" else self.sort,
            "tz": self.tz,
            "deleted": "1" if self.deleted else "",
            "page": self.page if self.page > 1 else "",
        }
        args.update(changes)
        return {k: v for k, v in args.items() if v not in ("", None)}

    @property
    def active(self) -> bool:
        return bool(self.q or self.start or self.end or (self.field and self.value))

    def store_query(self, form_ids: Iterable[str]) -> dict[str, Any]:
        """The part the store answers: which forms, deleted or not, received between which days."""
        ids = [self.form_id] if self.form_id else list(form_ids)
        query: dict[str, Any] = {"form_id": {"$in": ids}}
        if not self.deleted:
            query["deleted"] = False
        zone = viewer_zone(self.tz)
        bounds = {}
        if start := _day(self.start, zone):
            bounds["$gte"] = start
        if end := _day(self.end, zone):
            bounds["$lt"] = end + dt.timedelta(days=1)  # up to the end of that day
        if bounds:
            query["created_at"] = bounds
        return query

    def store_sort(self) -> list[tuple[str, int]]:
        if self.sort in SORTS:
            return SORTS[self.sort]
        match = FIELD_SORT.match(self.sort)
        direction = 1 if match["dir"] == "asc" else -1
        return [(f"data.{match['field']}", direction), ("created_at", -1), ("_id", -1)]

    def matches(self, doc: Mapping[str, Any]) -> bool:
        """The part only Python can answer: words anywhere in the values, a field's value containing text."""
        data = doc.get("data") or {}
        if (
            self.field
            and self.value
            and self.value.casefold() not in text_of(data.get(self.field)).casefold()
        ):
            return False
        if self.q:
            haystack = " ".join(text_of(v) for v in data.values()).casefold() + " " + str(doc["_id"])
            return all(word in haystack for word in self.q.casefold().split())
        return True


def matching(
    filters: Filters, form_ids: Iterable[str], fields: Iterable[str] | None = None
) -> Iterator[dict]:
    """Every matching submission (raw documents) in the chosen order, read from one cursor."""
    projection = None if fields is None else {name: 1 for name in fields}
    cursor = Submission._get_collection().find(
        filters.store_query(form_ids), projection, sort=filters.store_sort(), batch_size=200
    )
    return (doc for doc in cursor if filters.matches(doc))


def page_of(filters: Filters, form_ids: Iterable[str]) -> tuple[list[dict], bool]:
    """One page of matches and whether there is a next one."""
    start = (filters.page - 1) * PER_PAGE
    rows = list(islice(matching(filters, form_ids), start, start + PER_PAGE + 1))
    return rows[:PER_PAGE], len(rows) > PER_PAGE


def field_names(forms: Iterable[Form]) -> list[str]:
    """The declared field names of these forms, in their order, each once."""
    seen: dict[str, None] = {}
    for form in forms:
        for f in form.fields:
            seen.setdefault(f.name, None)
    return list(seen)


def summary(data: Mapping[str, Any] | None, form: Form | None = None, width: int = 60) -> str:
    """A one-line summary of a submission: its first e-mail field, else its first value."""
    data = data or {}
    emails = [f.name for f in form.fields if f.type == "email"] if form else []
    for name in emails:
        if data.get(name):
            return text_of(data[name])[:width]
    for value in data.values():
        if isinstance(value, str) and "@" in value:
            return value[:width]
    first = next((text_of(v) for v in data.values() if text_of(v)), "")
    return first[:width]
