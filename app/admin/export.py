"""Exports of the submissions browser's current filter as CSV, JSON or JSON lines (XLSX: app.admin.xlsx_stream,
from the same ``table_rows``), streamed: rows are written as the cursor reads them, in chunks, so memory
stays flat however many rows there are, and the first byte leaves before anything is counted. Times in UTC,
or in the viewer's zone (with its offset)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from flask import has_app_context

from app.models import as_datetime, isoformat
from app.models.search_terms import text_of
from app.services import services
from app.store_health import restart_store_deadline

CHUNK_ROWS = 200
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_CHARS = frozenset(FORMULA_STARTS)
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
BOM = "\ufeff"  # tells Excel the CSV is UTF-8 (else it reads "Zoë" as "ZoÃ«")
Times = Callable[[Any], str | None]
T = TypeVar("T")
_rested = threading.local()  # ``at``: when a paced stream of this thread's read last ended a rest (``paced``)


def cpus_contended(stat: str = "/proc/stat") -> bool:
    """Whether more threads are ready to run on this host right now than it has cores (someone waits for a
    core): the kernel's count of runnable threads (Linux). Unknown (another system): taken as contended."""
    try:
        with open(stat, "rb") as f:
            for line in f:
                if line.startswith(b"procs_running "):
                    return int(line.split()[1]) > (os.cpu_count() or 1)
    except (OSError, ValueError):
        pass
    return True


def delivering_here() -> bool:
    """Whether the current app's scheduler has jobs claimed or running in this process: they wait for its
    GIL (one thread runs Python at a time) while a heavy read formats rows."""
    scheduler = services().scheduler if has_app_context() else None
    return scheduler is not None and scheduler.delivering


def others_waiting() -> bool:
    """Whether a heavy read should rest now: deliveries of this process are in flight, or more threads are
    ready to run on this host than it has cores."""
    return delivering_here() or cpus_contended()


def paced(
    rows: Iterable[T], share: float, every: int = CHUNK_ROWS, contended: Callable[[], bool] | None = None
) -> Iterator[T]:
    """``rows``, busy at most ``share`` of the time while others wait: after every ``every`` rows, if this
    process has deliveries in flight or more threads are ready to run than there are cores (``contended``,
    by default ``others_waiting``), the export rests in proportion to what those rows took. An export is
    one person's download; without this, two of them in a loop take both cores of a small host (store and
    app) and every other workspace's requests wait behind them. On an otherwise idle host with nothing
    delivering, it goes as fast as the store reads."""
    if share >= 1:
        yield from rows
        return
    rest = 1 / max(share, 0.05) - 1  # (a share of nothing would never finish)
    contended = contended or others_waiting
    started = _rested.at = time.monotonic()  # (the streams of one read all start before any rests)
    for n, row in enumerate(rows, 1):
        yield row
        if n % every == 0:
            if contended():
                # (several paced streams merged into one read, e.g. one per form: the time since another's
                # rest is all this one has to pay for, else each rests for the others' rests too, and the
                # read slows without bound)
                busy = time.monotonic() - max(started, _rested.at)
                time.sleep(busy * rest)  # pacing: the rest that keeps the export within its share
                restart_store_deadline()  # (a request's store deadline is for the store's time, not rests)
                _rested.at = time.monotonic()
            started = time.monotonic()


def times_in(zone: ZoneInfo | None) -> Times:
    """How an export writes a stored time: ISO 8601 in UTC ("Z"), or in ``zone`` with its offset."""
    if zone is None:
        return isoformat

    def local(value: Any) -> str | None:
        moment = as_datetime(value)
        if moment is None:
            return None
        return moment.replace(tzinfo=dt.UTC).astimezone(zone).isoformat(timespec="milliseconds")

    return local


def _cell(value: Any) -> Any:
    """A CSV cell; text that a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    kind = type(value)
    if kind is str:  # (most cells: no other test)
        return "'" + value if value[:1] in FORMULA_CHARS else value
    if kind is int or kind is float or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    text = text_of(value)
    return "'" + text if text[:1] in FORMULA_CHARS else text


HEADER = ("id", "form", "received_at", "revision")


def table_rows(
    docs: Iterable[dict], fields: list[str], form_names: dict[str, str], times: Times = isoformat
) -> Iterator[list[Any]]:
    """The rows of a spreadsheet export (CSV, XLSX): a header, then one row per submission (undeclared
    fields as JSON in "other"), every text cell neutralised (see ``_cell``)."""
    yield [_cell(name) for name in (*HEADER, *fields, "other")]
    declared = set(fields)
    for doc in docs:
        data = doc.get("data") or {}
        other = {k: v for k, v in data.items() if k not in declared}
        yield [
            str(doc["_id"]),
            _cell(form_names.get(doc.get("form_id"), "")),
            times(doc.get("created_at")),
            doc.get("revision", 1),
            *[_cell(data.get(name)) for name in fields],
            json.dumps(other, default=str) if other else "",
        ]


def csv_rows(
    docs: Iterable[dict],
    fields: list[str],
    form_names: dict[str, str],
    times: Times = isoformat,
    bom: bool = False,
) -> Iterator[str]:
    """CSV text in chunks of ``CHUNK_ROWS`` rows (see ``table_rows``); ``bom``: starts with a byte order
    mark, for Excel."""
    buffer = io.StringIO()
    if bom:
        buffer.write(BOM)
    writer = csv.writer(buffer)
    rows = table_rows(docs, fields, form_names, times)
    writer.writerow(next(rows))  # the header leaves before the store is read
    yield buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    while chunk := list(islice(rows, CHUNK_ROWS)):
        writer.writerows(chunk)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _json_row(doc: dict, times: Times) -> str:
    row = {
        "id": str(doc["_id"]),
        "form_id": doc.get("form_id"),
        "created_at": times(doc.get("created_at")),
        "revision": doc.get("revision", 1),
        "deleted": bool(doc.get("deleted")),
        "data": doc.get("data") or {},
    }
    return json.dumps(row, default=str, ensure_ascii=False)  # (one line: line breaks in values are escaped)


def json_rows(docs: Iterable[dict], times: Times = isoformat) -> Iterator[str]:
    """A JSON array in chunks, one submission per line."""
    chunk: list[str] = []
    yield "["
    for n, doc in enumerate(docs):
        chunk.append(("\n" if n == 0 else ",\n") + _json_row(doc, times))
        if len(chunk) >= CHUNK_ROWS:
            yield "".join(chunk)
            chunk.clear()
    yield "".join(chunk) + "\n]\n"


def jsonl_rows(docs: Iterable[dict], times: Times = isoformat) -> Iterator[str]:
    """JSON lines in chunks: one submission per line, nothing around them."""
    chunk: list[str] = []
    for doc in docs:
        chunk.append(_json_row(doc, times) + "\n")
        if len(chunk) >= CHUNK_ROWS:
            yield "".join(chunk)
            chunk.clear()
    yield "".join(chunk)
