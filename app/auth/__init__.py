"""Accounts and access: who is calling, what they may do, and logging in.

The stable interface for views (documented in docs/auth.md):

- ``current_principal()`` → ``Principal`` (``.user``, ``.memberships`` {workspace_id: role}, ``.via``) or None
- ``current_user()`` → ``User`` or None
- ``visible_workspace_ids()`` → the caller's workspace ids
- ``role_in(workspace_id)`` → "owner" | "editor" | "viewer" | None
- ``require_role(workspace_id, role, what=...)`` → Principal; 404 outside the workspace, 403 role too low
- ``login_user(user)``, ``logout_user()``, ``verify_password(email, password)`` → User or None
- ``login_required`` (decorator for HTML views), ``rate_limited(setting)`` (decorator), ``csrf_token()``
"""

from __future__ import annotations

from flask import Blueprint, Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.security import generate_password_hash

from app.auth.accounts import (
    create_token,
    create_user,
    create_workspace,
    memberships_of,
    revoke_token,
    set_member,
    set_password,
    user_by_email,
    verify_password,
)
from app.auth.bootstrap import default_workspace_id, first_owner
from app.auth.csrf import csrf_token
from app.auth.limits import rate_limited
from app.auth.principal import (
    Principal,
    current_principal,
    current_user,
    require_any_role,
    require_principal,
    require_role,
    role_in,
    visible_workspace_ids,
)
from app.auth.session import login_required, login_user, logout_user
from app.models.accounts import Role

__all__ = [
    "Principal",
    "Role",
    "create_token",
    "create_user",
    "create_workspace",
    "csrf_token",
    "current_principal",
    "current_user",
    "default_workspace_id",
    "first_owner",
    "init_app",
    "login_required",
    "login_user",
    "logout_user",
    "memberships_of",
    "rate_limited",
    "require_any_role",
    "require_principal",
    "require_role",
    "revoke_token",
    "role_in",
    "set_member",
    "set_password",
    "user_by_email",
    "verify_password",
    "visible_workspace_ids",
]


def check_hash_method(method: str) -> None:
    """Refuse to start with a ``PASSWORD_HASH_METHOD`` werkzeug cannot hash with."""
    if method == "scrypt":
        return  # the default; hashing once to check it would cost 0.1 s of every start
    try:
        generate_password_hash("formhooks", method=method)
    except (ValueError, TypeError) as exc:
        raise RuntimeError(
            f"PASSWORD_HASH_METHOD {method!r} is not a werkzeug.security method: {exc}"
        ) from None


def init_app(app: Flask, api: Blueprint) -> None:
    """Sessions, CSRF, rate limits, and the first owner (created now if the store is reachable)."""
    from app.auth import bootstrap, limits, session  # noqa: PLC0415
    from app.auth.csrf import init_app as init_csrf  # noqa: PLC0415

    if app.config.get("PROXY_FIX_HOPS"):  # behind N reverse proxies: trust their X-Forwarded-* headers
        hops = app.config["PROXY_FIX_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    check_hash_method(app.config["PASSWORD_HASH_METHOD"])
    session.init_app(app)
    init_csrf(app, api)
    limits.init_app(app)
    try:
        bootstrap.bootstrap(app)
    except Exception:  # the store may be down at start-up: done on first need instead
        app.logger.warning("could not create the first owner at start-up; will retry on first use")
