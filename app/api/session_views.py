"""Logging in and out of the JSON API, and who the caller is."""

from __future__ import annotations

from flask import jsonify

from app import auth
from app.api import bp
from app.api.account_schemas import LoginIn, PasswordIn
from app.api.util import json_body, load, public
from app.auth.accounts import revoke_all_tokens
from app.auth.limits import hit, refuse_if_spent
from app.errors import APIError
from app.models.accounts import Workspace
from app.models.common import parse_object_id


def workspaces_of(memberships: dict[str, str]) -> list[dict]:
    """The caller's workspaces with names and their role, by name."""
    docs = Workspace.objects(id__in=[parse_object_id(w) for w in memberships]).order_by("name")
    return [ws.to_dict(memberships[str(ws.id)]) for ws in docs]


def _me(principal: auth.Principal) -> dict:
    return {
        "user": principal.user.to_dict(),
        "via": principal.via,
        "workspaces": workspaces_of(principal.memberships),
        "csrf_token": auth.csrf_token() if principal.via == "session" else None,
    }


@bp.post("/auth/login")
@public
def login():
    """Start a session (cookie) with email and password. Only failures count against LOGIN_RATE_LIMIT."""
    refuse_if_spent("LOGIN_RATE_LIMIT", "login")
    data = load(LoginIn(), json_body())
    user = auth.verify_password(data["email"], data["password"])
    if user is None:
        hit("LOGIN_RATE_LIMIT", "login")
        raise APIError(401, "invalid_credentials", "The email or password is wrong.")
    auth.login_user(user)
    return jsonify(_me(auth.Principal(user, auth.memberships_of(str(user.id)), "session")))


@bp.post("/auth/logout")
def logout():
    auth.logout_user()
    return "", 204


@bp.get("/auth/me")
def me():
    return jsonify(_me(auth.require_principal()))


@bp.post("/auth/password")
@auth.rate_limited("LOGIN_RATE_LIMIT", scope="login")
def change_password():
    """Change your password (the current one is needed); every other session of yours ends, and with
    ``revoke_tokens`` your personal API tokens too."""
    principal = auth.require_principal()
    data = load(PasswordIn(), json_body())
    if auth.verify_password(principal.user.email, data["current_password"]) is None:
        raise APIError(
            422, "validation_error", "Validation failed", {"current_password": ["This is not your password."]}
        )
    auth.set_password(principal.user, data["new_password"])
    if data["revoke_tokens"]:
        revoke_all_tokens(principal.user)
    if principal.via == "session":
        auth.login_user(principal.user)  # this session goes on; the others carry the old auth_version
    return "", 204
