"""Exports of the submissions browser's current filter as CSV or JSON, streamed: rows are written as the
cursor reads them, in chunks, so memory stays flat however many rows there are."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from app.admin.submission_search import text_of
from app.models import isoformat

CHUNK_ROWS = 200
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


def _cell(value: Any) -> Any:
    """A CSV cell; text that a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = text_of(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_rows(docs: Iterable[dict], fields: list[str], form_names: dict[str, str]) -> Iterator[str]:
    """CSV text in chunks: a header, then one line per submission (undeclared fields as JSON in "other")."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_cell(name) for name in ("id", "form", "received_at", "revision", *fields, "other")])
    declared = set(fields)
    for n, doc in enumerate(docs, 1):
        data = doc.get("data") or {}
        other = {k: v for k, v in data.items() if k not in declared}
        writer.writerow(
            [
                str(doc["_id"]),
                _cell(form_names.get(doc.get("form_id"), "")),
                isoformat(doc.get("created_at")),
                doc.get("revision", 1),
                *(_cell(data.get(name)) for name in fields),
                json.dumps(other, default=str) if other else "",
            ]
        )
        if n % CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def json_rows(docs: Iterable[dict]) -> Iterator[str]:
    """A JSON array in chunks, one submission per line."""
    chunk: list[str] = []
    yield "["
    for n, doc in enumerate(docs):
        row = {
            "id": str(doc["_id"]),
            "form_id": doc.get("form_id"),
            "created_at": isoformat(doc.get("created_at")),
            "revision": doc.get("revision", 1),
            "deleted": bool(doc.get("deleted")),
            "data": doc.get("data") or {},
        }
        chunk.append(("\n" if n == 0 else ",\n") + json.dumps(row, default=str))
        if len(chunk) >= CHUNK_ROWS:
            yield "".join(chunk)
            chunk.clear()
    yield "".join(chunk) + "\n]\n"
