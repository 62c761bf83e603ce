"""Query parameters of the admin list pages: a page number and times, refused with a 400 page when they
are out of range instead of failing deeper down (ids hold their time in 32 bits: 1970 to 2106)."""

from __future__ import annotations

import datetime as dt

from flask import request

from app.errors import APIError

MAX_PAGE = 100_000
EARLIEST = dt.datetime(1970, 1, 1)
LATEST = dt.datetime(2100, 12, 31, 23, 59)
TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d")


def page_arg() -> int:
    """``page`` (1 when absent or not a number); 400 past MAX_PAGE."""
    try:
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        return 1
    if page > MAX_PAGE:
        raise APIError(400, "bad_request", f"The page number must be at most {MAX_PAGE}.")
    return page


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
