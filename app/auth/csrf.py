"""CSRF protection (Flask-WTF) for requests authenticated by the session cookie.

HTML forms are checked by CSRFProtect as usual. The JSON API is exempt from its automatic check and
calls ``protect_api_request`` instead: only session-authenticated unsafe requests need the token (in the
``X-CSRFToken`` header); bearer-token requests carry no ambient credential and are exempt.
"""

from __future__ import annotations

from flask import Blueprint, Flask, request
from flask_wtf.csrf import CSRFProtect, generate_csrf

csrf = CSRFProtect()
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")


def protect_api_request() -> None:
    """400 (CSRF error) when an unsafe session request lacks a valid token."""
    if request.method not in SAFE_METHODS:
        csrf.protect()


def csrf_token() -> str:
    """The token for this session (also available in templates as ``csrf_token()``)."""
    return generate_csrf()


def init_app(app: Flask, api: Blueprint) -> None:
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session's life
    app.config.setdefault("WTF_CSRF_SSL_STRICT", True)
    csrf.init_app(app)
    csrf.exempt(api)
