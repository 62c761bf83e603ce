"""Who is calling: the principal of a request (bearer token or session) and the role checks on it."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

import flask_login
from flask import current_app, g, request

from app.auth import accounts
from app.auth.bootstrap import first_owner
from app.errors import APIError, not_found
from app.models.accounts import ROLE_RANK, Role, User


@dataclass(frozen=True)
class Principal:
    """A user acting through a session, a personal token or the ADMIN_TOKEN (as the first owner)."""

    user: User
    memberships: dict[str, str] = field(default_factory=dict)  # {workspace_id: role}
    via: str = "session"  # "session" | "token" | "admin_token"
    token_id: str | None = None

    @property
    def user_id(self) -> str:
        return str(self.user.id)

    def role_in(self, workspace_id: str | None) -> str | None:
        return self.memberships.get(str(workspace_id)) if workspace_id else None

    def can(self, workspace_id: str | None, role: str) -> bool:
        have = self.role_in(workspace_id)
        return have is not None and ROLE_RANK[Role(have)] >= ROLE_RANK[Role(role)]


def _bearer() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _resolve() -> Principal | None:
    token = _bearer()
    if token is not None:
        if hmac.compare_digest(token.encode(), current_app.config["ADMIN_TOKEN"].encode()):
            owner = first_owner(current_app)
            return Principal(owner, accounts.memberships_of(str(owner.id)), "admin_token")
        found = accounts.user_for_token(token)
        if found is None:
            raise APIError(401, "unauthorized", "The token is not valid.")
        user, api_token = found
        return Principal(user, accounts.memberships_of(str(user.id)), "token", str(api_token.id))
    logged_in = flask_login.current_user
    if logged_in is not None and logged_in.is_authenticated:
        user = logged_in.user
        return Principal(user, accounts.memberships_of(str(user.id)), "session")
    return None


def current_principal() -> Principal | None:
    """The caller of this request, or None when anonymous. 401 for a bearer token that is not valid."""
    if "fh_principal" not in g:
        g.fh_principal = _resolve()
    return g.fh_principal


def current_user() -> User | None:
    principal = current_principal()
    return principal.user if principal else None


def require_principal() -> Principal:
    """The caller, or 401."""
    principal = current_principal()
    if principal is None:
        raise APIError(401, "unauthorized", "Log in, or send Authorization: Bearer <token>.")
    return principal


def visible_workspace_ids() -> list[str]:
    """The workspaces the caller belongs to (any role); empty when anonymous."""
    principal = current_principal()
    return sorted(principal.memberships) if principal else []


def role_in(workspace_id: str | None) -> str | None:
    """The caller's role in a workspace ("owner" | "editor" | "viewer"), or None."""
    principal = current_principal()
    return principal.role_in(workspace_id) if principal else None


def require_role(workspace_id: str | None, role: str = Role.VIEWER, what: str = "workspace") -> Principal:
    """The caller when they hold ``role`` (or higher) in the workspace.

    404 "<what> not found" when they are not a member (so nothing leaks about other workspaces),
    403 when they are a member with a lower role, 401 when anonymous.
    """
    principal = require_principal()
    have = principal.role_in(workspace_id)
    if have is None:
        raise not_found(what)
    if not principal.can(workspace_id, role):
        raise APIError(403, "forbidden", f"This needs the {Role(role).value} role; you are {have}.")
    return principal


def require_any_role(role: str) -> Principal:
    """The caller when they hold ``role`` in at least one workspace (for actions bound to none); else 403."""
    principal = require_principal()
    if not any(principal.can(ws, role) for ws in principal.memberships):
        raise APIError(403, "forbidden", f"This needs the {Role(role).value} role in a workspace.")
    return principal
