"""Browser sessions (Flask-Login): log in/out, the session cookie's flags, ``login_required`` for pages."""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
from collections.abc import Callable

import flask_login
from flask import Flask, current_app, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface

from app import public_address
from app.models.accounts import LoginSession, User
from app.models.common import find_by_id
from app.services import services

LOGIN_VIEW = "admin.login"  # the UI's login page; login_required redirects there
SID_KEY = "fh_sid"  # the session cookie's server-side session id
TOUCH_RESOLUTION = 60.0  # seconds: last_seen is written at most this often per session


class _UserSession(flask_login.UserMixin):
    """Flask-Login's view of a User; the id carries auth_version so a password change ends sessions."""

    def __init__(self, user: User):
        self.user = user

    def get_id(self) -> str:
        return f"{self.user.id}.{self.user.auth_version}"

    @property
    def is_active(self) -> bool:
        return bool(self.user.active)


def _sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _live_session(user_id: str) -> bool:
    """Whether the cookie's server-side session exists, belongs to ``user_id`` and was used lately."""
    sid = session.get(SID_KEY)
    if not isinstance(sid, str):
        return False
    found = LoginSession.objects(id=_sid_hash(sid)).first()
    now = time.time()
    if found is None or found.user_id != user_id:
        return False
    if now - found.last_seen > current_app.config["SESSION_IDLE_TIMEOUT"]:
        found.delete()
        return False
    if now - found.last_seen > TOUCH_RESOLUTION:
        LoginSession.objects(id=found.id).update_one(set__last_seen=now)
    return True


def _load_user(session_id: str) -> User | None:
    user_id, _, version = session_id.partition(".")
    user = find_by_id(User, user_id)
    if user is None or not user.active or str(user.auth_version) != version:
        return None
    return user if _live_session(user_id) else None


class _SessionCookie(SecureCookieSessionInterface):
    """The session cookie is Secure when SESSION_COOKIE_SECURE is set or the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(super().get_cookie_secure(app) or (request and request.is_secure))


def login_user(user: User) -> None:
    """Start a session for ``user`` (a fresh session: the old one's contents are dropped)."""
    _end_server_session()
    session.clear()
    now = time.time()
    idle = current_app.config["SESSION_IDLE_TIMEOUT"]
    LoginSession.objects(last_seen__lt=now - idle).delete()  # tidy up the idle ones while here
    sid = secrets.token_urlsafe(32)
    LoginSession(id=_sid_hash(sid), user_id=str(user.id), created_at=now, last_seen=now).save(
        force_insert=True
    )
    flask_login.login_user(_UserSession(user))
    session[SID_KEY] = sid
    session.permanent = True
    first_owner = services().first_owner
    if first_owner and str(first_owner[0]) == str(user.id):  # links in alerts go where the admin signs in
        public_address.remember(current_app.config, request.host_url)


def _end_server_session() -> None:
    sid = session.get(SID_KEY)
    if isinstance(sid, str):
        LoginSession.objects(id=_sid_hash(sid)).delete()


def logout_user() -> None:
    """End the session on the server too: a copy of the cookie saved before no longer works."""
    _end_server_session()
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
