"""Rate limits (the ``limits`` library, storage from RATELIMIT_STORAGE_URI) for logins and public
submissions. Counted only where a view asks (``hit``, ``rate_limited``): no hook runs on other requests."""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable

from flask import Flask, current_app, request
from limits import parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter, RateLimiter

from app.auth.store_counters import StoreCounters
from app.errors import APIError
from app.services import services
from app.store_health import outside_store_deadline

log = logging.getLogger(__name__)
SHARED_SCOPES = {"login"}  # limits that must hold across workers even on the embedded store


def _strategy(scope: str) -> RateLimiter:
    """Logins count in the store when the configured storage is per process (memory://)."""
    found = services()
    return found.shared_limiter if found.shared_limiter is not None and scope in SHARED_SCOPES else found.limiter


def hit(setting: str, scope: str, key: str | None = None) -> None:
    """Count one hit against the limit named by the ``setting`` (e.g. "10 per minute"); 429 past it."""
    _limit(setting, scope, key, count=True)


def refuse_if_spent(setting: str, scope: str, key: str | None = None) -> None:
    """429 when ``setting``'s limit is already used up, counting nothing: for limits where only failures
    count (a login checks this first and ``hit``s only when the password was wrong)."""
    _limit(setting, scope, key, count=False)


def _limit(setting: str, scope: str, key: str | None, count: bool) -> None:
    value = current_app.config.get(setting)
    if not value:
        return
    key = key or request.remote_addr or "unknown"
    strategy = _strategy(scope)
    for item in parse_many(value):
        try:
            allowed = outside_store_deadline(strategy.hit if count else strategy.test, item, scope, key)
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
    """This app's fixed-window limiter on RATELIMIT_STORAGE_URI (one per app, so tests do not share counters)."""
    services(app).limiter = FixedWindowRateLimiter(
        storage_from_string(app.config["RATELIMIT_STORAGE_URI"])
    )
    if app.config["RATELIMIT_STORAGE_URI"].startswith("memory"):
        services(app).shared_limiter = FixedWindowRateLimiter(StoreCounters())
