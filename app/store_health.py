"""Whether the store answers, known without waiting for it: a circuit breaker for the database.

Slow is not down. ``store_fault`` tells the two apart for any error (wrapped ones included): only a
failure to reach the store (connection refused or reset, no server selected) opens the circuit at once.
An operation that ran out of time (a socket read timed out, the request's deadline was spent, the server's
``maxTimeMS``) fails its own request only (503 ``store_timeout``) and asks for a confirmation: one ping
at a time, in the background, on a small client of its own; only if that ping gets no answer does the
circuit open.

While the circuit is open, requests that need the store are refused with a 503 at once and the scheduler
pauses; one probe at a time (the same ping) tests recovery, and the first answer closes the circuit. Each
change is logged once.

Every request's store operations also share one deadline of ``DB_TIMEOUT_MS`` (pymongo's client-side
operation timeout, retries included), so a hung store costs a request that long and no more.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar

import pymongo
from flask import Flask, current_app, request
from pymongo import _csot
from pymongo.errors import (
    ClientBulkWriteException,
    ConnectionFailure,
    NetworkTimeout,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
)

from app.errors import APIError, store_error
from app.services import services

log = logging.getLogger(__name__)
T = TypeVar("T")

Fault = Literal["unreachable", "slow"]
TIME_LIMIT_CODES = {50, 262}  # MaxTimeMSExpired, ExceededTimeLimit: the server gave up for lack of time
MAX_WRAPPED = 16  # causes followed at most (a cycle or a very long chain says nothing more)

# Endpoints that never touch the store: they answer whatever the store is doing.
NO_STORE = frozenset({"health.healthz", "health.readyz", "metrics.metrics"})
# The intake's: a refusal says that nothing was stored (as its own 503s say what was).
INTAKE = frozenset({"api.create_submission", "hosted.submit"})


def store_fault(exc: BaseException) -> Fault | None:
    """Whether ``exc``, or an error it wraps, means the store did not answer, and how.

    "unreachable": it could not be reached (connection refused or reset, server selection timed out).
    "slow": an operation ran out of time (a socket read, the request's deadline, the server's time limit,
    no free connection in the pool); that says nothing about the store by itself. None: anything else (the
    store answered: a refusal, a duplicate key; or not a store error). Wrapped errors are those of
    ``__cause__``/``__context__`` (mongoengine's ``OperationError``) and a ``ClientBulkWriteException``'s
    top-level ``error``; one that is unreachable anywhere in the chain makes the whole unreachable.
    """
    found: Fault | None = None
    todo: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while todo and len(seen) < MAX_WRAPPED:
        err = todo.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        fault = _fault_of(err)
        if fault == "unreachable":
            return fault
        found = found or fault
        todo += [err.__cause__, err.__context__]
        if isinstance(err, ClientBulkWriteException) and isinstance(err.error, BaseException):
            todo.append(err.error)
    return found


def _fault_of(err: BaseException) -> Fault | None:
    """The fault of this one error, not looking at what it wraps."""
    if isinstance(err, ServerSelectionTimeoutError):
        return "unreachable"
    if isinstance(err, NetworkTimeout | WaitQueueTimeoutError):  # (subclasses of ConnectionFailure)
        return "slow"
    if isinstance(err, ConnectionFailure):
        return "unreachable"
    if isinstance(err, PyMongoError) and err.timeout:
        return "slow"
    if isinstance(err, OperationFailure):
        write_errors = (err.details or {}).get("writeErrors") or []  # (a bulk write's, per document)
        codes = {err.code, *(e.get("code") for e in write_errors if isinstance(e, dict))}
        if codes & TIME_LIMIT_CODES:
            return "slow"
    return None


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
        self._confirming = False
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

    def report(self, exc: BaseException) -> Fault | None:
        """Tell the circuit about an error of a store operation; returns its ``store_fault``. Unreachable
        opens the circuit; slow asks for a confirmation ping; anything else changes nothing."""
        fault = store_fault(exc)
        if fault == "unreachable":
            self.failed(exc)
        elif fault == "slow":
            self.confirm()
        return fault

    def confirm(self) -> None:
        """An operation ran out of time: ping the store in the background (one ping at a time; nothing
        waits for it). Only a ping without an answer opens the circuit."""
        with self._lock:
            if self._down_since is not None or self._confirming or self._closed.is_set():
                return
            self._confirming = True
        threading.Thread(target=self._confirm, name="formhooks-store-confirm", daemon=True).start()

    @property
    def confirming(self) -> bool:
        return self._confirming

    def _confirm(self) -> None:
        try:
            self.ping()
        finally:
            with self._lock:
                self._confirming = False

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


def restart_store_deadline() -> None:
    """Give the rest of this request a whole store deadline (``DB_TIMEOUT_MS``) from now: after CPU work
    that is not the store's time (hashing a password), or to clean up after the deadline was spent. Such
    a request may take twice the deadline (plus that work). No-op outside a request's deadline."""
    if _csot.get_timeout() is None:
        return
    # pymongo has no public way to extend a deadline (a nested pymongo.timeout can only shorten it).
    _csot.DEADLINE.set(time.monotonic() + services(current_app).store_health.timeout)


def as_store_error(exc: BaseException, message: str | None = None, details: Any = None) -> APIError | None:
    """The 503 to answer for ``exc`` when it means the store did not answer (reported to this app's
    circuit); None when it does not. ``message``/``details`` replace the standard ones."""
    fault = services().store_health.report(exc)
    if fault is None:
        return None
    return store_error(fault, message, details)


def init_app(app: Flask) -> None:
    health = services(app).store_health = StoreHealth(app.config["MONGODB_URI"], app.config["DB_TIMEOUT_MS"])
    app.wsgi_app = StoreDeadline(app.wsgi_app, health.timeout)  # type: ignore[method-assign]

    @app.before_request
    def _refuse_while_the_store_is_down():
        endpoint = request.endpoint or ""
        if health.down and endpoint not in NO_STORE and not endpoint.endswith("static"):
            details = {"stored": "no"} if endpoint in INTAKE else None
            raise store_error("unreachable", details=details)  # (an APIError: pages answer it with a page)
        return None
