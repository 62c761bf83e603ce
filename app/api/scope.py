"""Workspace scoping of the API: every object belongs to a workspace; callers see only theirs.

Objects of other workspaces answer 404 exactly like missing ones; a role too low answers 403.
"""

from __future__ import annotations

from typing import Any, TypeVar

from flask import request
from mongoengine import Document

from app.api.util import get_or_404
from app.auth import require_principal, require_role
from app.errors import APIError, invalid, not_found
from app.models import Form, Role, parse_object_id

D = TypeVar("D", bound=Document)
READ, WRITE, OWN = Role.VIEWER, Role.EDITOR, Role.OWNER


def scoped_or_404(model: type[D], object_id: str, what: str, role: str = READ) -> D:
    """The object when the caller holds ``role`` in its workspace; 404 when missing or outside theirs."""
    doc = get_or_404(model, object_id, what)
    require_role(doc.workspace_id, role, what)
    form_id = getattr(doc, "form_id", None) if model is not Form else None
    if form_id and Form._get_collection().find_one({"_id": parse_object_id(form_id)}, {"_id": 1}) is None:
        raise not_found(what)  # (its form was deleted: what is left of it goes in the background)
    return doc


def check_workspace(workspace_id: str | None, what: str, role: str = READ) -> None:
    """For raw documents: 404 outside the caller's workspaces, 403 for a role too low."""
    require_role(workspace_id, role, what)


def visible(**filters: Any) -> dict[str, Any]:
    """Query filters limiting a list to the caller's workspaces (or the one in ``?workspace_id=``)."""
    principal = require_principal()
    wanted = request.args.get("workspace_id")
    if wanted is not None:
        if wanted not in principal.memberships:
            raise not_found("workspace")
        return {**filters, "workspace_id": wanted}
    ids = sorted(principal.memberships)
    if len(ids) == 1:  # the common case: single-field equality, served by the index
        return {**filters, "workspace_id": ids[0]}
    return {**filters, "workspace_id__in": ids}


def workspace_for_new(requested: str | None, what: str = "workspace") -> str:
    """The workspace a new object goes to: the one asked for (editor needed), else the caller's default."""
    principal = require_principal()
    if requested:
        require_role(requested, WRITE, what)
        return requested
    writable = [ws for ws in principal.memberships if principal.can(ws, WRITE)]
    if not writable:
        if principal.memberships:
            raise APIError(403, "forbidden", "This needs the editor role in a workspace.")
        raise invalid({"workspace_id": ["You are in no workspace; create one first."]})
    return default_workspace(principal.user_id, writable)


def default_workspace(user_id: str, writable: list[str]) -> str:
    """The oldest membership among ``writable`` workspaces."""
    from app.models import Membership  # noqa: PLC0415

    rows = Membership.objects(user_id=user_id).only("workspace_id", "created_at").order_by("created_at")
    for row in rows:
        if row.workspace_id in writable:
            return row.workspace_id
    return writable[0]
