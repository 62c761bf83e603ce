"""Whether the store answers, known without waiting for it: a circuit breaker for the database.

The first operation that finds the store unreachable opens the circuit and logs once. From then on
requests that need the store are refused with a 503 at once and the scheduler pauses, while one probe
at a time (a ping on a small client of its own, with a short deadline) tests recovery; the first ping
that gets an answer closes the circuit and logs once more.

Every request's store operations also share one deadline of ``DB_TIMEOUT_MS`` (pymongo's client-side
operation timeout, retries included), so a hung store costs a request that long and no more.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import pymongo
from flask import Flask, request
from pymongo.errors import PyMongoError

from app.errors import store_unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

# Endpoints that never touch the store: they answer whatever the store is doing.
NO_STORE = frozenset({"health.healthz", "health.readyz", "metrics.metrics"})


class StoreHealth:
    """The store's circuit for one process: ``down`` is known at once; ``ping`` asks within ``timeout``."""

    def __init__(self, uri: str, timeout_ms: int, probe_every: float = 0.5):
        self.timeout = timeout_ms / 1000
        self.probe_every = probe_every
        # Its own pool: a probe never queues behind requests stuck on the main client.
        self._client: pymongo.MongoClient = pymongo.MongoClient(
            uri,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms,
            maxPoolSize=2,
            connect=False,
        )
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._closed = threading.Event()

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def failed(self, exc: BaseException) -> None:
        """The store did not answer: open the circuit (logged once per outage) and start the probe."""
        with self._lock:
            if self._down_since is not None or self._closed.is_set():
                return
            self._down_since = time.monotonic()
        log.error(
            "store unreachable (%s): answering 503 and pausing the scheduler until it answers again",
            type(exc).__name__,
        )
        threading.Thread(target=self._probe, name="formhooks-store-probe", daemon=True).start()

    def ping(self) -> bool:
        """Ask the store now, within ``timeout``; the answer opens or closes the circuit."""
        try:
            with pymongo.timeout(self.timeout):
                self._client.admin.command("ping")
        except PyMongoError as exc:
            self.failed(exc)
            return False
        self._recovered()
        return True

    def close(self) -> None:
        """Stop probing and close the probe's client (the app is going away)."""
        self._closed.set()
        self._client.close()

    def _recovered(self) -> None:
        with self._lock:
            if self._down_since is None:
                return
            outage, self._down_since = time.monotonic() - self._down_since, None
        log.warning("store reachable again after %.1f s; resuming", outage)

    def _probe(self) -> None:
        """The one probe of an outage: ping until the store answers (or the app closes)."""
        while not self._closed.is_set() and not self.ping():
            self._closed.wait(self.probe_every)


class StoreDeadline:
    """WSGI middleware: the store operations of one request share a deadline of ``seconds``."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], seconds: float):
        self.wsgi_app = wsgi_app
        self.seconds = seconds

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with pymongo.timeout(self.seconds):
            return self.wsgi_app(environ, start_response)


def outside_store_deadline(fn: Callable[..., T], *args: Any) -> T:
    """Call ``fn`` without the request's store deadline: for clients of other stores (the rate limits'),
    whose own timeouts apply and whose waits must not use up the deadline of this store."""
    return contextvars.Context().run(fn, *args)


def store_health(app: Flask) -> StoreHealth:
    return app.extensions["formhooks.store_health"]


def init_app(app: Flask) -> None:
    health = StoreHealth(app.config["MONGODB_URI"], app.config["DB_TIMEOUT_MS"])
    app.extensions["formhooks.store_health"] = health
    app.wsgi_app = StoreDeadline(app.wsgi_app, health.timeout)  # type: ignore[method-assign]

    @app.before_request
    def _refuse_while_the_store_is_down():
        endpoint = request.endpoint or ""
        if health.down and endpoint not in NO_STORE and not endpoint.endswith("static"):
            return store_unavailable()
        return None
