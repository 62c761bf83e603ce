"""Newest-first pages of jobs, execution logs and workflow runs that the store serves from an index."""

from __future__ import annotations

from typing import Any

from mongoengine import Document

from app.api.scope import visible
from app.api.util import page_args, page_body
from app.errors import APIError
from app.models import created_field
from app.models.newest import TooFarBack, newest_rows


def newest_page(model: type[Document], filters: dict[str, Any], by: tuple[str, ...]) -> dict[str, Any]:
    """A page of the caller's documents of ``model`` matching ``filters``, newest first, each read served by
    an index (app.models.newest): anchored on the first filter of ``by`` given, else on each visible
    workspace (each with an (anchor, creation time) index)."""
    page, per_page = page_args()
    scope = visible()
    workspaces = [scope["workspace_id"]] if "workspace_id" in scope else scope["workspace_id__in"]
    field = next((name for name in by if name in filters), None)
    where = {name: {"$eq": value} for name, value in filters.items() if name != field}
    if field is None:
        anchors = [("workspace_id", ws) for ws in workspaces]
    else:
        anchors = [(field, filters[field])]
        where["workspace_id"] = {"$in": workspaces}
    skip = (page - 1) * per_page
    try:
        rows = newest_rows(model._get_collection(), anchors, created_field(model), where, skip, per_page + 1)
    except TooFarBack as err:
        raise APIError(400, "bad_request", str(err)) from None
    return page_body(rows, page, per_page, lambda some: [model._from_son(row).to_dict() for row in some])
