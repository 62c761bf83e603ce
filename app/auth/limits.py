"""Rate limits (Flask-Limiter; storage from RATELIMIT_STORAGE_URI) for logins and public submissions."""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many
from limits.strategies import FixedWindowRateLimiter, RateLimiter

from app.auth.store_counters import StoreCounters
from app.errors import APIError
from app.store_health import outside_store_deadline

log = logging.getLogger(__name__)
SHARED_SCOPES = {"login"}  # limits that must hold across workers even on the embedded store


def limiter(app: Flask | None = None) -> Limiter:
    """This app's Flask-Limiter instance (one per app, so tests do not share counters)."""
    return (app or current_app).extensions["formhooks.limiter"]


def _strategy(scope: str) -> RateLimiter:
    """Logins count in the store when the configured storage is per process (memory://)."""
    shared = current_app.extensions.get("formhooks.shared_limiter")
    return shared if shared is not None and scope in SHARED_SCOPES else limiter().limiter


def hit(setting: str, scope: str, key: str | None = None) -> None:
    """Count one hit against the limit named by the ``setting`` (e.g. "10 per minute"); 429 past it."""
    value = current_app.config.get(setting)
    if not value:
        return
    key = key or get_remote_address() or "unknown"
    strategy = _strategy(scope)
    for item in parse_many(value):
        try:
            allowed = outside_store_deadline(strategy.hit, item, scope, key)
        except Exception:  # the limits' storage is down: serve rather than fail every request
            log.warning("rate-limit storage unavailable; %s not limited", scope, exc_info=True)
            return
        if not allowed:
            reset_at = outside_store_deadline(strategy.get_window_stats, item, scope, key).reset_time
            retry = max(1, math.ceil(reset_at - time.time()))
            err = APIError(429, "rate_limited", f"Too many requests ({value}); try again in {retry} s.")
            err.headers = {"Retry-After": str(retry)}
            raise err


def rate_limited(setting: str, scope: str | None = None, key: Callable[[], str] | None = None) -> Callable:
    """Decorate a view: each call counts against ``setting``'s limit per client address (or ``key()``)."""

    def decorate(view: Callable) -> Callable:
        name = scope or f"{view.__module__}.{view.__name__}"

        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            hit(setting, name, key() if key else None)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    app.extensions["formhooks.limiter"] = Limiter(
        get_remote_address, app=app, storage_uri=app.config["RATELIMIT_STORAGE_URI"]
    )
    if app.config["RATELIMIT_STORAGE_URI"].startswith("memory"):
        app.extensions["formhooks.shared_limiter"] = FixedWindowRateLimiter(StoreCounters())
