"""Request helpers shared by the API views: JSON bodies, lookups, pagination."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import marshmallow
from flask import request
from mongoengine import Document

from app.errors import APIError, invalid, not_found
from app.json_input import strict_loads
from app.models import find_by_id, newest_first, parse_object_id
from app.paging import PageError, page_number

D = TypeVar("D", bound=Document)
MAX_PER_PAGE = 200


def public(view: Callable) -> Callable:
    """Mark a view as reachable without a token."""
    view._public = True  # type: ignore[attr-defined]
    return view


def json_body() -> dict[str, Any]:
    """The request's JSON object; 400 when it is not valid JSON or not an object."""
    data = request.get_json(silent=True)
    if data is None:
        if not request.data:
            raise APIError(400, "bad_request", "A JSON body is required.")
        try:
            strict_loads(request.data)
        except ValueError as err:  # say why: deep nesting, a huge number, NaN, a lone surrogate, a typo
            raise APIError(400, "bad_request", f"The body is not valid JSON: {err}") from None
        raise APIError(400, "bad_request", "The body is not valid JSON.")
    if not isinstance(data, dict):
        raise APIError(400, "bad_request", "The JSON body must be an object.")
    return data


def load(schema: marshmallow.Schema, data: Any, **kwargs: Any) -> dict[str, Any]:
    """Validate with marshmallow; 422 with per-field messages on failure."""
    try:
        return schema.load(data, **kwargs)
    except marshmallow.ValidationError as err:
        raise invalid(err.messages) from None


def get_or_404(model: type[D], object_id: str, what: str, **filters: Any) -> D:
    doc = find_by_id(model, object_id, **filters)
    if doc is None:
        raise not_found(what)
    return doc


def query_id(name: str) -> str | None:
    """An id filter from the query string; 400 when malformed."""
    raw = request.args.get(name)
    if raw is None:
        return None
    if parse_object_id(raw) is None:
        raise APIError(400, "bad_request", f"{name} is not a valid id.")
    return raw


def page_args() -> tuple[int, int]:
    """``page`` and ``per_page`` of a list's query string (400 when they are not numbers in range)."""
    try:
        page = page_number(request.args.get("page"))
    except PageError as err:
        raise APIError(400, "bad_request", str(err)) from None
    try:
        per_page = min(MAX_PER_PAGE, max(1, int(request.args.get("per_page", 50))))
    except ValueError:
        raise APIError(400, "bad_request", "per_page must be a whole number.") from None
    return page, per_page


def paginate(
    queryset,
    serialize: Callable[[Any], dict] | None = None,
    serialize_page: Callable[[list[Any]], list[dict]] | None = None,
) -> dict[str, Any]:
    """Page through a queryset newest first; ``has_more`` instead of a total (counts are costly). Rows are
    shown one by one with ``serialize``, or all at once with ``serialize_page`` (one read for the page)."""
    page, per_page = page_args()
    rows = list(
        queryset.order_by(*newest_first(queryset._document)).skip((page - 1) * per_page).limit(per_page + 1)
    )
    if serialize_page is None:
        assert serialize is not None, "paginate needs serialize or serialize_page"
        serialize_page = lambda page: [serialize(r) for r in page]  # noqa: E731
    return page_body(rows, page, per_page, serialize_page)


def page_body(
    rows: list[Any], page: int, per_page: int, serialize_page: Callable[[list[Any]], list[dict]]
) -> dict[str, Any]:
    """A list's answer from ``rows``, read one past the page (whether there are more)."""
    return {"items": serialize_page(rows[:per_page]), "page": page, "per_page": per_page, "has_more": len(rows) > per_page}


def status_arg(allowed: list[str]) -> str | None:
    """The ``?status=`` argument (None: not given); one not in ``allowed`` is a 400."""
    status = request.args.get("status")
    if status is not None and status not in allowed:
        raise APIError(400, "bad_request", f"status must be one of {', '.join(allowed)}.")
    return status

