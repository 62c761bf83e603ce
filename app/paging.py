"""The page number of a paged list, read one way for the API's lists and the admin pages."""

from __future__ import annotations

MAX_PAGE = 100_000  # (pages are skipped to: a skip past 64 bits is a store error, not an empty page)


class PageError(ValueError):
    """A page number that cannot be served; its text says why, for people."""


def page_number(raw: str | None) -> int:
    """``page`` from a query string: 1 when absent or blank, at least 1; PageError when it is not a whole
    number or is past MAX_PAGE."""
    if raw is None or not raw.strip():
        return 1
    try:
        page = int(raw)
    except ValueError:
        raise PageError("The page number must be a whole number.") from None
    if page > MAX_PAGE:
        raise PageError(f"The page number must be at most {MAX_PAGE}.")
    return max(1, page)
