"""Finding submissions for the browser and the exports, from indexes: pages newest (or oldest) first by
``sort_key``, words through the postings of their rarest word, dates as ``sort_key`` ranges, an id by ``_id``
(see app.models.search_terms); the submissions accepted since the indexer's last pass (no postings yet) are
read directly, a bounded few. What Python still checks (the other words, a field's words) reads a bounded
number of candidates on a page (``SCAN_LIMIT``) and says so when it stops.

Words match whole words, casefolded: "hopper" finds "Grace Hopper", "hop" does not.
Nothing is loaded whole: pages and exports iterate cursors, so 100,000 rows never sit in memory.
"""

from __future__ import annotations

import datetime as dt
import heapq
import re
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pymongo.collection import Collection

from app.admin.export import paced
from app.admin.query_args import page_arg
from app.engine import indexer
from app.models import Form, Submission, SubmissionTerm, parse_object_id
from app.models.search_terms import submission_of, term_key, text_of, time_key, unindexed, words, words_of

PER_PAGE = 25
SCAN_LIMIT = 5_000  # candidates a page reads and tests in Python before it stops and says so
BATCH = 200
PACE_ROWS = 25  # rows between a heavy read's looks at whether others wait (see app.admin.export.paced)
# Rows per read of an export (its next read overlaps the writing of these). Small: the store answers one
# command at a time, so each read is what another workspace's delivery may wait behind (200 rows of a
# 20,000-row form: 5-30 ms on nx-27017; 1,000: 65-200 ms).
EXPORT_BATCH = BATCH
FIRST_BATCH = PER_PAGE + 1  # a page's worth first: most reads are one page
MAX_QUERY_WORDS = 8  # words whose postings are counted to pick the rarest (the others are checked)
RANK_CAP = 1_000  # postings counted per word: past this a word is as common as any
TAIL_LIMIT = 2_000  # submissions not yet indexed a word search reads directly (normally a few seconds' worth)
RARE_ENOUGH = 2 * PER_PAGE  # postings of a word rare enough to stop counting the others
SORTS = {"newest": -1, "oldest": 1}
FIELD_SORT = re.compile(r"^(?P<field>[A-Za-z_][A-Za-z0-9_\-]{0,63}):(?P<dir>asc|desc)$")
KEY = re.compile(r"^[0-9]{17}[0-9a-f]{24}$")
__all__ = ["text_of"]


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
    after: str = ""  # the ``sort_key`` of the last row of the previous page (pages by key, not by skipping)

    @classmethod
    def read(cls, args: Mapping[str, str], form_id: str = "", zone: str = "") -> Filters:
        get = lambda name: (args.get(name) or "").strip()  # noqa: E731
        page = page_arg(get("page"))
        sort = get("sort")
        if sort not in SORTS and not FIELD_SORT.match(sort):
            sort = "newest"
        after = get("after")
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
            after=after if KEY.match(after) and sort in SORTS and page > 1 else "",
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
            "after": self.after,
        }
        if "page" in changes and "after" not in changes:
            args["after"] = ""  # a page by number: the key of another page does not apply
        args.update(changes)
        return {k: v for k, v in args.items() if v not in ("", None)}

    @property
    def active(self) -> bool:
        return bool(self.q or self.start or self.end or (self.field and self.value))

    @property
    def direction(self) -> int:
        return SORTS.get(self.sort, -1)

    @property
    def field_sort(self) -> tuple[str, int] | None:
        match = FIELD_SORT.match(self.sort)
        return (match["field"], 1 if match["dir"] == "asc" else -1) if match else None

    def key_range(self) -> dict[str, str]:
        """The ``sort_key`` bounds of the chosen days (in the viewer's zone) and of ``after``."""
        zone = viewer_zone(self.tz)
        bounds: dict[str, str] = {}
        if start := _day(self.start, zone):
            bounds["$gte"] = time_key(start)
        if end := _day(self.end, zone):
            bounds["$lt"] = time_key(end + dt.timedelta(days=1))  # up to the end of that day
        if self.after and self.direction < 0:
            bounds["$lt"] = min(bounds.get("$lt", self.after), self.after)
        elif self.after:
            bounds.pop("$gte", None)
            bounds["$gt"] = max(self.after, time_key(start)) if start else self.after
        return bounds

    def store_query(self, form_ids: Iterable[str]) -> dict[str, Any]:
        """Which forms, deleted or not, received between which days (by ``created_at``: for counts and
        for forms not yet in the search index)."""
        ids = [self.form_id] if self.form_id else list(form_ids)
        query: dict[str, Any] = {"form_id": {"$in": ids}}
        if not self.deleted:
            query["deleted"] = False
        zone = viewer_zone(self.tz)
        bounds = {}
        if start := _day(self.start, zone):
            bounds["$gte"] = start
        if end := _day(self.end, zone):
            bounds["$lt"] = end + dt.timedelta(days=1)
        if bounds:
            query["created_at"] = bounds
        return query

    @property
    def query_words(self) -> list[str]:
        return words(self.q)

    @property
    def field_words(self) -> list[str]:
        return words(self.value) if self.field else []

    def matches(self, doc: Mapping[str, Any]) -> bool:
        """Whether a submission holds every word searched for (and the field's words in that field)."""
        data = doc.get("data") or {}
        if self.field_words and not set(self.field_words) <= set(words(text_of(data.get(self.field)))):
            return False
        return not self.query_words or set(self.query_words) <= set(words_of(data))


@dataclass
class Found:
    """A page of submissions and what a reader should know about it."""

    rows: list[dict]
    has_more: bool
    next_after: str = ""
    notes: list[str] = field(default_factory=list)


class _Budget:
    """How many candidates Python may still read and turn down (None: no limit, as for exports). A match
    costs nothing here: the page (or the export) it goes to bounds it."""

    def __init__(self, limit: int | None):
        self.left, self.limit, self.spent = limit, limit, False

    def take(self) -> bool:
        if self.left is None:
            return True
        if self.left <= 0:
            self.spent = True
            return False
        self.left -= 1
        return True


def _by_key(
    coll: Collection,
    query: dict[str, Any],
    fields: dict | None,
    direction: int,
    skip: int = 0,
    whole: bool = False,
    share: float = 1.0,
) -> Iterator[dict]:
    """Rows of ``query`` in ``sort_key`` order, read a bounded batch at a time, each batch after the last
    key read (``sort_key`` is unique within any query here). Never one open cursor: nx-27017 reads every
    row of a query without a limit before it returns the first. ``whole`` (an export, which reads every
    row): each batch asked for while the one before is being written out. ``share``: a heavy read's share
    of the time (see app.admin.export.paced; 1: never rests)."""
    rows = (row for batch in _key_batches(coll, query, fields, direction, skip, whole) for row in batch)
    yield from paced(rows, share, every=PACE_ROWS)


def _key_batches(
    coll: Collection, query: dict[str, Any], fields: dict | None, direction: int, skip: int, whole: bool
) -> Iterator[list[dict]]:
    after = "$lt" if direction < 0 else "$gt"

    def read(size: int, last: str | None, skip: int) -> list[dict]:
        where = query if last is None else {**query, "sort_key": {**query.get("sort_key", {}), after: last}}
        found = coll.find(where, fields, sort=[("sort_key", direction)], skip=skip, limit=size, batch_size=size)
        return list(found)

    if not whole:
        size, last = FIRST_BATCH, None
        while True:
            rows = read(size, last, skip)
            yield rows
            if len(rows) < size:
                return
            size, last, skip = BATCH, rows[-1]["sort_key"], 0
    pool = ThreadPoolExecutor(1, thread_name_prefix="export-read")
    try:
        size = FIRST_BATCH
        rows = read(size, None, skip)
        while True:
            ahead = BATCH if size == FIRST_BATCH else EXPORT_BATCH  # (growing: the first rows leave soon)
            more = pool.submit(read, ahead, rows[-1]["sort_key"], 0) if len(rows) == size else None
            yield rows
            if more is None:
                return
            rows, size = more.result(), ahead
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _plain(
    filters: Filters,
    form_id: str,
    deleted: bool,
    skip: int,
    fields: dict | None,
    whole: bool = False,
    share: float = 1.0,
) -> Iterator[dict]:
    """A form's submissions (deleted or not) in key order, from the (form_id, deleted, sort_key) index
    (``whole``: every one of them will be read, see ``_by_key``)."""
    query: dict[str, Any] = {"form_id": {"$eq": form_id}, "deleted": {"$eq": deleted}}
    if bounds := filters.key_range():
        query["sort_key"] = bounds
    projection = None if fields is None else {**fields, "sort_key": 1}
    return _by_key(Submission._get_collection(), query, projection, filters.direction, skip, whole, share)


def rarest_word(form_id: str, found: list[str]) -> tuple[str, int]:
    """The word with the fewest postings in this form (and how many, up to a bound). Longer words are
    counted first (an e-mail's own part, a name, an id: usually the rarest), and counting stops at a word
    with at most ``RARE_ENOUGH`` postings: its candidates cost less to test than the other words to count
    ("example", "com")."""
    terms = SubmissionTerm._get_collection()
    best: tuple[int, str] | None = None
    for w in sorted(found[:MAX_QUERY_WORDS], key=len, reverse=True):
        # (a find, not count_documents: nx-27017 counts in Python)
        count = len(list(terms.find({"key": {"$eq": term_key(form_id, w)}}, {"_id": 1}, limit=RANK_CAP)))
        if best is None or count < best[0]:
            best = (count, w)
        if count <= RARE_ENOUGH:
            break
    return (best[1], best[0]) if best else ("", 0)


def _within(key: str, bounds: Mapping[str, str]) -> bool:
    return all(
        {"$gte": key >= b, "$gt": key > b, "$lt": key < b, "$lte": key <= b}[op] for op, b in bounds.items()
    )


def _tail(filters: Filters, form_id: str, fields: dict | None, state: _Search) -> list[dict]:
    """A form's submissions holding the words searched for among those the indexer has not reached yet
    (accepted a moment ago: no postings), in key order; at most ``TAIL_LIMIT`` are read."""
    bounds = filters.key_range()
    found = [
        d
        for d in state.due(fields)
        if d.get("form_id") == form_id
        and _within(d.get("sort_key") or "", bounds)
        and (filters.deleted or not d.get("deleted"))
        and filters.matches(d)
    ]
    return sorted(found, key=lambda d: d["sort_key"], reverse=filters.direction < 0)


def _by_words(
    filters: Filters, form_id: str, budget: _Budget, fields: dict | None, state: _Search
) -> Iterator[dict]:
    """A form's submissions holding the words searched for, in key order: the postings of the rarest word
    (each candidate tested for the others and the deleted flag), merged with the indexer's tail."""
    merged = heapq.merge(
        _posted(filters, form_id, budget, fields, state.share),
        _tail(filters, form_id, fields, state),
        key=lambda d: d["sort_key"],
        reverse=filters.direction < 0,
    )
    seen: set = set()
    for doc in merged:  # (one both posted and still flagged: the indexer is at it)
        if doc["_id"] not in seen:
            seen.add(doc["_id"])
            yield doc


def _posted(
    filters: Filters, form_id: str, budget: _Budget, fields: dict | None, share: float = 1.0
) -> Iterator[dict]:
    word, count = rarest_word(form_id, filters.query_words + filters.field_words)
    if not count:
        return
    query: dict[str, Any] = {"key": {"$eq": term_key(form_id, word)}}
    if bounds := filters.key_range():
        query["sort_key"] = bounds
    postings = _by_key(SubmissionTerm._get_collection(), query, {"_id": 1, "sort_key": 1}, filters.direction)
    projection = None if fields is None else {**fields, "data": 1, "deleted": 1, "sort_key": 1}
    batches = iter(lambda: list(islice(postings, BATCH)), [])
    for batch in paced(batches, share, every=1):  # (a batch: its postings and its candidates read)
        ids = [submission_of(p) for p in batch]
        docs = {d["_id"]: d for d in Submission._get_collection().find({"_id": {"$in": ids}}, projection)}
        for oid in ids:
            doc = docs.get(oid)
            if doc and (filters.deleted or not doc.get("deleted")) and filters.matches(doc):
                yield doc
            elif not budget.take():
                return


def _legacy(
    filters: Filters,
    form_ids: list[str],
    budget: _Budget,
    fields: dict | None,
    cap: int | None,
    share: float = 1.0,
) -> Iterator[dict]:
    """Forms not yet in the search index: by ``created_at`` (at most ``cap`` rows read: a page's), each
    candidate tested in Python (bounded)."""
    for doc in paced(_by_date(filters, form_ids, fields, cap), share, every=BATCH):
        if not filters.active or filters.matches(doc):
            yield doc
        elif not budget.take():
            return


def _by_date(filters: Filters, form_ids: list[str], fields: dict | None, cap: int | None) -> Iterator[dict]:
    """Rows by ``created_at`` then ``_id``, at most ``cap``, read ``BATCH`` at a time (one read of thousands
    would hold the store for everyone, as in ``_by_key``). Batches follow each other by skipping: nx-27017
    has no index on dates, so a range on ``created_at`` would read the whole form each time, and skipping
    costs a little more with each batch (about 30 ms at 5,000 rows, 200 ms at 20,000 on nx-27017), which
    ``flask reindex-submissions`` ends."""
    direction, coll = filters.direction, Submission._get_collection()
    query = filters.store_query(form_ids)
    projection = None if fields is None else {**fields, "data": 1}
    order = [("created_at", direction), ("_id", direction)]
    read = 0
    while cap is None or read < cap:
        size = BATCH if cap is None else min(BATCH, cap - read)
        rows = list(coll.find(query, projection, sort=order, skip=read, limit=size, batch_size=size))
        yield from rows
        if len(rows) < size:
            return
        read += size


def _by_id(filters: Filters, form_ids: list[str], fields: dict | None) -> list[dict]:
    oid = parse_object_id(filters.q)
    query: dict[str, Any] = {"_id": oid, "form_id": {"$in": list(form_ids)}}
    if not filters.deleted:
        query["deleted"] = False
    return list(Submission._get_collection().find(query, fields))


@dataclass
class _Search:
    filters: Filters
    form_ids: list[str]
    budget: _Budget
    share: float = 1.0  # a heavy read's share of the time (app.admin.export.paced; 1: never rests)
    legacy: bool = False
    tail_full: bool = False  # the indexer's tail was longer than a search reads
    _due: list[dict] | None = None

    def due(self, fields: dict | None) -> list[dict]:
        """The submissions the indexer has not reached yet (read once per search, for every form)."""
        if self._due is None:
            projection = None if fields is None else {**fields, "data": 1, "deleted": 1, "sort_key": 1, "form_id": 1}
            query = {indexer.PENDING: {"$eq": indexer.NEW}}
            self._due = list(Submission._get_collection().find(query, projection, limit=TAIL_LIMIT))
            self.tail_full = len(self._due) >= TAIL_LIMIT
        return self._due

    def stream(self, skip: int = 0, fields: dict | None = None, want: int = PER_PAGE + 1) -> Iterator[dict]:
        """Every match in order (``skip`` rows passed over in the store where it can); a caller with a
        budget reads at most ``want`` of them."""
        f = self.filters
        if parse_object_id(f.q) is not None:
            return islice(iter(_by_id(f, self.form_ids, fields)), skip, None)
        self.legacy = any(unindexed(Submission._get_collection(), fid) for fid in self.form_ids)
        if self.legacy:
            rejects = self.budget.limit if f.active else 0  # (without filters every row read is shown)
            cap = None if self.budget.limit is None else skip + rejects + want
            return islice(_legacy(f, self.form_ids, self.budget, fields, cap, self.share), skip, None)
        if f.query_words or f.field_words:
            streams = [_by_words(f, fid, self.budget, fields, self) for fid in self.form_ids]
        else:
            states = (False, True) if f.deleted else (False,)
            if len(self.form_ids) == 1 and not f.deleted:  # (skipped in the store)
                return _plain(f, self.form_ids[0], False, skip, fields, self.whole, self.share)
            # (several forms merged: plain batches, not a reader thread per form)
            streams = [_plain(f, fid, d, 0, fields, share=self.share) for fid in self.form_ids for d in states]
        merged = heapq.merge(*streams, key=lambda d: d["sort_key"], reverse=f.direction < 0)
        return islice(merged, skip, None)

    @property
    def whole(self) -> bool:
        """Whether every match will be read (an export: no budget)."""
        return self.budget.limit is None

    def notes(self) -> list[str]:
        notes = []
        if self.legacy:
            notes.append(
                "Some submissions of this view were stored before the search index, which is incomplete "
                "until an administrator runs `flask reindex-submissions`: until then this view is read by "
                f"date, and a search tests only the newest {SCAN_LIMIT:,} submissions."
            )
        if self.tail_full:
            notes.append(
                f"More than {TAIL_LIMIT:,} recent submissions are still being added to the search index: a "
                "search may miss some of them for a little while."
            )
        if self.budget.spent:
            notes.append(
                f"Searched the newest {self.budget.limit:,} candidates only; narrow the dates or use rarer "
                "words to search further back."
            )
        return notes


def _field_value(value: Any) -> tuple[int, Any]:
    """A sort key for values of any type: missing, then numbers, then text (as the store orders them)."""
    if value is None:
        return (0, 0)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, value)
    return (2, text_of(value).casefold())


def _scope_ids(filters: Filters, form_ids: Iterable[str]) -> list[str]:
    return [filters.form_id] if filters.form_id else list(form_ids)


def matching(
    filters: Filters,
    form_ids: Iterable[str],
    fields: Iterable[str] | None = None,
    limit: int | None = None,
    share: float = 1.0,
) -> Iterator[dict]:
    """Every matching submission (raw documents) in received order (newest or oldest first: a sort by a
    field is the page's alone, it would hold every row in memory), read from cursors; ``limit``: the most
    candidates tested in Python (exports: none, their cost follows the rows they write); ``share``: of the
    time, while others wait for the cores (app.admin.export.paced)."""
    projection = None if fields is None else {name: 1 for name in fields}
    return _Search(filters, _scope_ids(filters, form_ids), _Budget(limit), share).stream(fields=projection)


def heavy(filters: Filters) -> bool:
    """Whether a page of these filters may test many candidates in Python (words, a field, a sort by a
    field's value): a heavy read, which takes its workspace's turn (app.admin.read_gate) and its share."""
    return bool(filters.query_words or filters.field_words or filters.field_sort)


def page_of(filters: Filters, form_ids: Iterable[str], share: float = 1.0) -> Found:
    """One page of matches, whether there is a next one, and notes on what was (not) searched."""
    search = _Search(filters, _scope_ids(filters, form_ids), _Budget(SCAN_LIMIT), share)
    skip = 0 if filters.after else (filters.page - 1) * PER_PAGE
    if sort := filters.field_sort:
        name, direction = sort
        everything = list(islice(search.stream(want=SCAN_LIMIT + 1), SCAN_LIMIT + 1))
        notes = search.notes()
        if len(everything) > SCAN_LIMIT:
            notes.append(f"Sorted the newest {SCAN_LIMIT:,} matches; narrow the dates to sort the others.")
            everything.pop()
        everything.sort(key=lambda d: _field_value((d.get("data") or {}).get(name)), reverse=direction < 0)
        rows = everything[skip : skip + PER_PAGE + 1]
        return Found(rows[:PER_PAGE], len(rows) > PER_PAGE, "", notes)
    rows = list(islice(search.stream(skip), PER_PAGE + 1))
    page = rows[:PER_PAGE]
    last = page[-1].get("sort_key", "") if page and len(rows) > PER_PAGE else ""
    return Found(page, len(rows) > PER_PAGE, last if not search.legacy else "", search.notes())


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
