"""Query parameters of the admin list pages: a page number and times, refused with a 400 page when they
are out of range instead of failing deeper down (ids hold their time in 32 bits: 1970 to 2106)."""

from __future__ import annotations

import datetime as dt

from flask import request

from app.errors import APIError
from app.paging import PageError, page_number

EARLIEST = dt.datetime(1970, 1, 1)
LATEST = dt.datetime(2100, 12, 31, 23, 59)
TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d")


def page_arg(raw: str | None = None) -> int:
    """``page`` (``raw``, or the request's), read by app.paging's rule: a 400 page when it cannot be served."""
    try:
        return page_number(request.args.get("page") if raw is None else raw)
    except PageError as err:
        raise APIError(400, "bad_request", str(err)) from None


def time_arg(name: str) -> dt.datetime | None:
    """A time filter (an HTML datetime-local or date value, read as UTC); None when absent or unreadable,
    400 outside 1970–2100."""
    raw = request.args.get(name, "").strip()
    for fmt in TIME_FORMATS:
        try:
            value = dt.datetime.strptime(raw, fmt)
        except ValueError:
            continue
        if not EARLIEST <= value <= LATEST:
            raise APIError(400, "bad_request", f"“{name}” must be between 1970 and 2100.")
        return value
    return None
