"""Browser sessions (Flask-Login): log in/out, the session cookie's flags, ``login_required`` for pages."""

from __future__ import annotations

import functools
from collections.abc import Callable

import flask_login
from flask import Flask, current_app, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface

from app.models.accounts import User
from app.models.common import find_by_id

LOGIN_VIEW = "admin.login"  # the UI's login page; login_required redirects there


class _UserSession(flask_login.UserMixin):
    """Flask-Login's view of a User; the id carries auth_version so a password change ends sessions."""

    def __init__(self, user: User):
        self.user = user

    def get_id(self) -> str:
        return f"{self.user.id}.{self.user.auth_version}"

    @property
    def is_active(self) -> bool:
        return bool(self.user.active)


def _load_user(session_id: str) -> User | None:
    user_id, _, version = session_id.partition(".")
    user = find_by_id(User, user_id)
    if user is None or not user.active or str(user.auth_version) != version:
        return None
    return user


class _SessionCookie(SecureCookieSessionInterface):
    """The session cookie is Secure when SESSION_COOKIE_SECURE is set or the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(super().get_cookie_secure(app) or (request and request.is_secure))


def login_user(user: User) -> None:
    """Start a session for ``user`` (a fresh session: the old one's contents are dropped)."""
    session.clear()
    flask_login.login_user(_UserSession(user))
    session.permanent = True


def logout_user() -> None:
    flask_login.logout_user()
    session.clear()


def login_required(view: Callable) -> Callable:
    """For HTML views: the caller must be logged in (session or token), else a redirect to the login page."""
    from app.auth.principal import current_principal  # noqa: PLC0415

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if current_principal() is None:
            return redirect(url_for(current_app.config["LOGIN_VIEW"], next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def init_app(app: Flask) -> None:
    manager = flask_login.LoginManager()
    manager.session_protection = "basic"

    @manager.user_loader
    def load(session_id: str):
        user = _load_user(session_id)
        return _UserSession(user) if user else None

    manager.init_app(app)
    app.session_interface = _SessionCookie()
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    app.config.setdefault("LOGIN_VIEW", LOGIN_VIEW)
