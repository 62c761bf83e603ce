"""Whether the store answers, known without waiting for it: a circuit breaker for the database.

Slow is not down. ``store_fault`` tells the two apart for any error (wrapped ones included): "unreachable"
(connection refused or reset, no server selected) or "slow" (a socket read timed out, the request's
deadline was spent, the server's ``maxTimeMS``). Either fails its own request only (503 ``store_unavailable``
or ``store_timeout``) and asks for a check: one at a time, in the background, a new connection on a client
of its own must be made and answer within ``DB_TIMEOUT_MS`` (the connect window). Only a check that cannot
connect opens the circuit: a request's error never does by itself, since under load its own deadline may cut
its server selection or a new connection short while the store is merely slow.

While the circuit is open, requests that need the store are refused with a 503 at once and the scheduler
pauses; one probe at a time (the same check) tests recovery, and the first success closes the circuit. Each
change is logged once.

Every request's store operations also share one deadline of ``DB_TIMEOUT_MS`` (pymongo's client-side
operation timeout, retries included), so a hung store costs a request that long and no more.
"""

from __future__ import annotations

import contextvars
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar

import pymongo
from flask import Flask, current_app, request
from pymongo import _csot, uri_parser
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
# Codes of a server's answer that say the store did not do the work (a mongos or a replica set's member
# answering for the rest, a write concern): it could not reach a member, or ran out of time.
UNREACHABLE_CODES = {
    *(6, 7, 9001),  # HostUnreachable, HostNotFound, SocketException
    *(91, 11600, 189, 11602),  # shutting down, stepped down, interrupted by a replica set's change
    *(10058, 10107, 13435, 13436),  # not primary (the codes pymongo answers with NotPrimaryError)
    134,  # ReadConcernMajorityNotAvailableYet
}
TIME_LIMIT_CODES = {50, 262, 89, 64}  # MaxTimeMSExpired, ExceededTimeLimit, NetworkTimeout, write concern's
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
        details = err.details or {}
        # (a bulk write's, per document; a write concern's, for the whole)
        errors = [*(details.get("writeErrors") or []), *(details.get("writeConcernErrors") or [])]
        codes = {err.code, *(e.get("code") for e in errors if isinstance(e, dict))}
        if codes & UNREACHABLE_CODES:
            return "unreachable"
        if codes & TIME_LIMIT_CODES:
            return "slow"
    return None


class StoreHealth:
    """The store's circuit for one process: ``down`` is known at once; only ``reachable`` opens it."""

    def __init__(self, uri: str, timeout_ms: int, probe_every: float = 0.5):
        self.uri = uri
        self.timeout = timeout_ms / 1000
        self.probe_every = probe_every
        self._options: dict[str, Any] = {
            "serverSelectionTimeoutMS": timeout_ms,
            "connectTimeoutMS": timeout_ms,
            "socketTimeoutMS": timeout_ms,
        }
        # Its own pool for /readyz's pings: they never queue behind requests stuck on the main client.
        self._client = self._new_client(pool=2)
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._confirming = False
        self._reached_at = -float("inf")  # when a check last reached the store
        self._closed = threading.Event()

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def report(self, exc: BaseException) -> Fault | None:
        """Tell the circuit about an error of a store operation; returns its ``store_fault``. Any store fault
        asks for a check (``confirm``); nothing else changes anything. The error itself never opens the
        circuit: a request's own deadline may have cut its connection or its server selection short while
        the store was only slow."""
        fault = store_fault(exc)
        if fault is not None:
            self.confirm()
        return fault

    def confirm(self) -> None:
        """Check in the background whether the store can be reached (one check at a time, none within
        ``probe_every`` of one that reached it; nothing waits for it): only a store that cannot be reached
        opens the circuit."""
        with self._lock:
            recent = time.monotonic() - self._reached_at < self.probe_every
            if self._down_since is not None or self._confirming or recent or self._closed.is_set():
                return
            self._confirming = True
        threading.Thread(target=self._confirm, name="formhooks-store-confirm", daemon=True).start()

    @property
    def confirming(self) -> bool:
        return self._confirming

    def _confirm(self) -> None:
        try:
            if (error := self.unreachable()) is not None:
                self._open(error)
        finally:
            with self._lock:
                self._confirming = False

    def unreachable(self) -> BaseException | None:
        """Why the store cannot be reached now, or None when it can: a new connection, on a client made for
        this check, is opened and answers within ``timeout`` (the connect window). Only a failure to connect
        counts (refused, reset, no server selected: a store stopped or gone for that long); an answer that
        is late once connected is a slow store, reachable. A new client, because the request pool's
        established connections and its view of the server say nothing about a new connection."""
        if (refused := self._refused()) is not None:
            return refused
        client = self._new_client(pool=1)
        try:
            client.admin.command("ping")
        except PyMongoError as exc:
            if store_fault(exc) == "unreachable":
                return exc
        finally:
            client.close()
        with self._lock:
            self._reached_at = time.monotonic()
        return None

    def _refused(self) -> ConnectionRefusedError | None:
        """Every address of the store refuses a TCP connection: down at once. (A selection that finds no
        server takes the whole ``timeout``, so a stopped store would be known one connect window later.)"""
        try:
            nodes = (
                uri_parser.parse_uri(self.uri)["nodelist"] if not self.uri.startswith("mongodb+srv") else []
            )
        except (PyMongoError, ValueError):
            return None
        refused: ConnectionRefusedError | None = None
        for host, port in nodes:
            try:
                socket.create_connection((host, port), timeout=self.timeout).close()
            except ConnectionRefusedError as exc:
                refused = exc
            except OSError:
                return None  # not a refusal: let the check's connect window decide
            else:
                return None
        return refused

    def ping(self) -> bool:
        """Ask the store now on this circuit's own client, within ``timeout`` (/readyz). An answer closes the
        circuit; none is reported like any store fault (a check decides whether the store is down)."""
        try:
            with pymongo.timeout(self.timeout):
                self._client.admin.command("ping")
        except PyMongoError as exc:
            self.report(exc)
            return False
        self._recovered()
        return True

    def _new_client(self, pool: int) -> pymongo.MongoClient:
        return pymongo.MongoClient(self.uri, maxPoolSize=pool, connect=False, **self._options)

    def close(self) -> None:
        """Stop probing and close the circuit's client (the app is going away)."""
        self._closed.set()
        self._client.close()

    def _open(self, exc: BaseException) -> None:
        """The store cannot be reached: open the circuit (logged once per outage) and start the probe."""
        with self._lock:
            if self._down_since is not None or self._closed.is_set():
                return
            self._down_since = time.monotonic()
        log.error(
            "store unreachable (%s): answering 503 and pausing the scheduler until it answers again",
            type(exc).__name__,
        )
        threading.Thread(target=self._probe, name="formhooks-store-probe", daemon=True).start()

    def _recovered(self) -> None:
        with self._lock:
            if self._down_since is None:
                return
            outage, self._down_since = time.monotonic() - self._down_since, None
        log.warning("store reachable again after %.1f s; resuming", outage)

    def _probe(self) -> None:
        """The one probe of an outage: check until the store can be reached (or the app closes)."""
        while not self._closed.is_set():
            if self.unreachable() is None:
                self._recovered()
                return
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
