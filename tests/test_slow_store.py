"""Slow is not down: a store operation that runs out of time fails its own request (503 store_timeout)
and nothing else; only a store that cannot be reached opens the store circuit and pauses the scheduler."""

from __future__ import annotations

import itertools
import threading
import time

import mongoengine
import pymongo
import pytest
from flask import Flask, request
from mongoengine.errors import OperationError
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ClientBulkWriteException,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
)

from app.db import database
from app.engine.scheduler import Scheduler
from app.services import services
from app.store.embedded import EmbeddedStore
from app.store_health import store_fault
from tests.conftest import Api, ui_login
from tests.support.wait import wait_until

TIMEOUT_MS = 1000


def _wrapped(outer: type[Exception], inner: BaseException) -> BaseException:
    """``outer`` raised while handling ``inner``, as mongoengine wraps pymongo's errors."""
    try:
        try:
            raise inner
        except BaseException:
            raise outer(f"Could not save document ({inner})")  # noqa: B904  (implicit context, as there)
    except Exception as exc:  # noqa: BLE001
        return exc


def _caused(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


def _client_bulk(error: BaseException | None, write_errors: list | None = None) -> ClientBulkWriteException:
    details = {"error": error, "writeErrors": write_errors or [], "writeConcernErrors": [], "nInserted": 0}
    return ClientBulkWriteException(details, verbose=False)


def _bulk(code: int) -> BulkWriteError:
    error = {"index": 0, "code": code, "errmsg": "x"}
    return BulkWriteError({"writeErrors": [error], "writeConcernErrors": [], "nInserted": 0})


UNREACHABLE = [
    ServerSelectionTimeoutError("No servers found yet"),
    AutoReconnect("127.0.0.1:27017: [Errno 111] Connection refused"),
    ConnectionFailure("connection reset by peer"),
    NotPrimaryError("not primary"),
    _client_bulk(AutoReconnect("connection closed")),
    _wrapped(OperationError, ServerSelectionTimeoutError("gone")),
    _caused(ExecutionTimeout("ran out", 50), AutoReconnect("reset before the retry")),
]
SLOW = [
    NetworkTimeout("127.0.0.1:27017: timed out (configured timeouts: socketTimeoutMS: 3000.0ms)"),
    ExecutionTimeout("operation would exceed time limit", 50),
    OperationFailure("operation exceeded time limit", 50),
    OperationFailure("exceeded time limit", 262),
    WaitQueueTimeoutError("Timed out while checking out a connection from connection pool"),
    _client_bulk(NetworkTimeout("timed out")),
    _bulk(50),
    _bulk(262),
    _wrapped(OperationError, ExecutionTimeout("operation would exceed time limit", 50)),
    _wrapped(RuntimeError, NetworkTimeout("timed out")),
]
NEITHER = [
    DuplicateKeyError("E11000 duplicate key", 11000),
    OperationFailure("bad query", 2),
    _bulk(11000),
    _client_bulk(None, [{"idx": 0, "code": 11000}]),
    ValueError("not a store error"),
    _wrapped(OperationError, DuplicateKeyError("dup", 11000)),
]


@pytest.mark.parametrize("exc", UNREACHABLE, ids=repr)
def test_errors_that_mean_the_store_cannot_be_reached_are_unreachable(exc):
    assert store_fault(exc) == "unreachable"


@pytest.mark.parametrize("exc", SLOW, ids=repr)
def test_errors_of_an_operation_that_ran_out_of_time_are_slow(exc):
    assert store_fault(exc) == "slow"


@pytest.mark.parametrize("exc", NEITHER, ids=repr)
def test_answers_of_the_store_and_other_errors_are_no_store_fault(exc):
    assert store_fault(exc) is None


# -- a slow query, for real -----------------------------------------------------------------------------


class Heavy:
    """Makes a request slow for real when it carries ``X-Heavy``: "server" runs one aggregation that keeps
    the store busy for seconds (2,500 rows: 2.4 s on an idle machine, so its socket read times out), "client" reads in small batches until the
    request's deadline is spent. Its data lives in a database of its own, so only the heavy request waits."""

    def __init__(self, app: Flask, store_uri: str, db_name: str):
        self.client = pymongo.MongoClient(store_uri)
        self.coll = self.client[f"{db_name}_heavy"]["rows"]
        self.coll.insert_many([{"i": i, "k": i % 40, "pad": "x" * 100} for i in range(2500)])
        coll_name, db = self.coll.name, self.coll.database.name

        self.raised: list[str] = []  # the class of what each heavy request raised

        @app.before_request
        def _heavy():
            kind = request.headers.get("X-Heavy")
            coll = database().client[db][coll_name]  # the app's client: the request's deadline applies
            try:
                if kind == "server":
                    lookup = {"from": coll_name, "localField": "k", "foreignField": "k", "as": "m"}
                    list(coll.aggregate([{"$lookup": lookup}, {"$count": "n"}]))
                elif kind == "client":
                    for _ in itertools.count():
                        list(coll.find({}, batch_size=5).limit(200))
            except Exception as exc:
                self.raised.append(type(exc).__name__)
                raise


@pytest.fixture
def heavy_store(tmp_path):
    """A store of this test's own: the store goes on with a heavy aggregation after its request gave up on
    it (seconds of CPU), so it is killed at the end instead of being waited for (a shared store's next drop
    waited 10-21 s behind them)."""
    store = EmbeddedStore(tmp_path / "heavy-store").start()
    yield store
    # the apps' client goes while the store lives: closed later it would send the cursors it still has to
    # kill to a dead store and log that error into the next test
    mongoengine.disconnect()
    store.kill()


@pytest.fixture
def heavy_app(heavy_store, make_app, db_name):  # (heavy_store first: it is torn down after the apps)
    app = make_app(MONGODB_URI=heavy_store.uri, SCHEDULER_ENABLED=True, DB_TIMEOUT_MS=TIMEOUT_MS)
    heavy = Heavy(app, heavy_store.uri, db_name)
    app.extensions["test.heavy"] = heavy
    yield app
    heavy.client.close()


def _second_workspace(app: Flask, sink_url: str) -> tuple[Api, dict]:
    from tests.admin_api.conftest import People  # noqa: PLC0415

    people = People(app)
    with app.app_context():
        other = people.member("other@example.com", {people.workspace("Other"): "owner"})
    form = other.api.create_form("Other form")
    other.api.add_plugin(form["id"], "webhook", {"url": sink_url})
    return other.api, form


@pytest.mark.parametrize("kind", ["server", "client"])
def test_a_slow_query_fails_its_request_alone_and_never_opens_the_store_circuit(
    heavy_app, sink, caplog, kind
):
    app = heavy_app
    health = services(app).store_health
    other, form = _second_workspace(app, sink.url)
    viewer = Api(app.test_client())
    opened: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.01):
            if health.down:
                opened.append(time.monotonic())

    def slow_requests(answers: list) -> None:
        for _ in range(3):
            answers.append(viewer.get("/api/forms", headers={"X-Heavy": kind}))

    slow: list = []
    threads = [threading.Thread(target=watch), threading.Thread(target=slow_requests, args=(slow,))]
    for t in threads:
        t.start()
    accepted, others = [], []
    try:
        while threads[1].is_alive():  # another workspace meanwhile: its intake and its API
            resp = other.post(f"/api/forms/{form['id']}/submissions", {"data": {"n": len(accepted)}})
            others.append(resp.status_code)
            if resp.status_code == 202:
                accepted.append(resp.json["id"])
            others.append(other.get(f"/api/forms/{form['id']}").status_code)
        threads[1].join()
        wait_until(lambda: not health.confirming, what="the confirmation ping")
    finally:
        stop.set()
        threads[0].join()

    assert [(r.status_code, r.json["error"]["code"]) for r in slow] == [(503, "store_timeout")] * 3
    # a socket read that timed out while the store worked; a deadline spent between reads (or during one)
    expected = {"server": {"NetworkTimeout"}, "client": {"ExecutionTimeout", "NetworkTimeout"}}[kind]
    raised = app.extensions["test.heavy"].raised
    assert len(raised) == 3 and set(raised) <= expected, raised
    assert all(r.headers["Retry-After"] for r in slow)
    assert "too long" in slow[0].json["error"]["message"]
    assert accepted and set(others) == {200, 202}, others
    assert not opened and not health.down
    assert not [r for r in caplog.records if "store unreachable" in r.getMessage()]
    delivered = lambda: {r.json()["submission_id"] for r in sink.requests}  # noqa: E731
    wait_until(lambda: set(accepted) <= delivered(), timeout=20, what="the other workspace's deliveries")


def test_a_slow_admin_page_is_an_html_page_with_a_retry_link(heavy_app):
    client = ui_login(heavy_app)
    url = "/admin/forms"
    resp = client.get(url, headers={"X-Heavy": "client"})
    assert resp.status_code == 503 and resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert "took too long" in page and "Try again" in page and f'href="http://localhost{url}' in page
    assert resp.headers["Retry-After"]
    assert not services(heavy_app).store_health.down
    assert client.get(url).status_code == 200  # the next request is served as usual


def test_the_scheduler_does_not_pause_for_a_slow_operation(make_app, caplog):
    app = make_app(DB_TIMEOUT_MS=TIMEOUT_MS)
    scheduler = Scheduler(app, owner="slow")
    health = services(app).store_health
    timeouts = [
        NetworkTimeout("timed out"),
        ExecutionTimeout("ran out", 50),
        _client_bulk(NetworkTimeout("x")),
    ]
    for exc in timeouts:

        def slow(exc=exc):
            raise exc

        scheduler.guarded("maintenance", slow)
        wait_until(lambda: not health.confirming, what="the confirmation ping")
        assert not health.down
    assert scheduler.poll() == 0 and not health.down  # it polls (nothing is due)
    assert not [r for r in caplog.records if "store unreachable" in r.getMessage() or r.exc_info]


# -- a store that cannot be reached, for real -----------------------------------------------------------


@pytest.mark.parametrize("fault", ["sigstop", "sigkill"])
def test_an_unreachable_store_still_opens_the_circuit_and_pages_say_so_in_html(make_app, tmp_path, fault):
    store = EmbeddedStore(tmp_path / "store").start()
    try:
        app = make_app(MONGODB_URI=store.uri, DB_TIMEOUT_MS=TIMEOUT_MS)
        client = ui_login(app)
        api = Api(app.test_client())
        assert client.get("/admin/forms").status_code == 200
        store.pause() if fault == "sigstop" else store.kill()
        first = client.get("/admin/forms")
        assert first.status_code == 503 and first.mimetype == "text/html"
        assert "Try again" in first.get_data(as_text=True)
        wait_until(lambda: services(app).store_health.down, timeout=3 * TIMEOUT_MS / 1000, what="the circuit open")
        page, answer = client.get("/admin/forms"), api.get("/api/forms")
        assert page.status_code == 503 and "unreachable" in page.get_data(as_text=True)
        assert page.mimetype == "text/html" and page.headers["Retry-After"] == "5"
        assert (answer.status_code, answer.json["error"]["code"]) == (503, "store_unavailable")
    finally:
        store.stop()


def test_store_errors_ask_one_check_at_a_time_and_only_a_check_that_cannot_connect_opens_the_circuit(
    make_app, monkeypatch
):
    health = services(make_app(DB_TIMEOUT_MS=TIMEOUT_MS)).store_health
    health.probe_every = 0  # (a check may follow one that reached the store at once)
    release, pings = threading.Event(), []
    answer: list[BaseException | None] = [None]

    def ping(self, name, *args, **kwargs):
        pings.append(name)
        release.wait(5)
        if answer[0] is not None:
            raise answer[0]
        return {"ok": 1}

    monkeypatch.setattr(pymongo.database.Database, "command", ping)
    for exc in (SLOW + UNREACHABLE) * 3:  # many store errors at once, unreachable ones too: one check
        assert health.report(exc) is not None
    wait_until(lambda: pings, what="the check")
    assert pings == ["ping"] and health.confirming and not health.down
    release.set()
    wait_until(lambda: not health.confirming, what="the check's end")
    assert not health.down

    # connected, but the answer came late (a loaded store): slow, not down
    for late in (NetworkTimeout("timed out"), ExecutionTimeout("ran out", 50), OperationFailure("x", 50)):
        answer[0] = late
        health.report(ServerSelectionTimeoutError("No servers found, Timeout: 0.01s"))
        wait_until(lambda: not health.confirming, what="the check's end")
        assert not health.down, late

    # no connection within the connect window: down, until a check connects again
    answer[0] = ServerSelectionTimeoutError("No servers found, Timeout: 1.0s")
    health.report(NetworkTimeout("timed out"))
    wait_until(lambda: health.down, what="the circuit open after a check that could not connect")
    answer[0] = None
    wait_until(lambda: not health.down, what="the probe's check closing it")


def test_a_request_cut_short_while_the_store_answers_does_not_open_the_circuit(app, api, monkeypatch):
    """Under load a request's own deadline can end its server selection (or a new connection) while the
    store is merely slow: that request gets its 503, and the circuit stays closed for everyone else."""
    health = services(app).store_health
    original = pymongo.collection.Collection.find
    cut: list[BaseException] = []

    def find(self, *args, **kwargs):
        if cut:
            raise cut.pop()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pymongo.collection.Collection, "find", find)
    for exc in UNREACHABLE[:3] + SLOW[:2]:
        cut.append(exc)
        assert api.get("/api/forms").status_code == 503
        wait_until(lambda: not health.confirming, what="the check")
        assert not health.down, exc
        assert api.get("/api/forms").status_code == 200


def test_a_store_stopped_for_less_than_the_connect_window_is_slow_not_down(make_app, tmp_path):
    store = EmbeddedStore(tmp_path / "store").start()
    try:
        app = make_app(MONGODB_URI=store.uri, DB_TIMEOUT_MS=3000)
        health = services(app).store_health
        api = Api(app.test_client())
        assert api.get("/api/forms").status_code == 200
        store.pause()
        stopped = time.monotonic()
        answers: list[int] = []
        waiting = threading.Thread(target=lambda: answers.append(api.get("/api/forms").status_code))
        waiting.start()  # a request that meets the stopped store
        health.report(NetworkTimeout("timed out"))  # as a request cut short by the stop would
        wait_until(lambda: health.confirming, what="the check")
        wait_until(lambda: time.monotonic() > stopped + 1.0, what="a stop of 1 s (the connect window: 3 s)")
        store.resume()
        waiting.join(5)
        wait_until(lambda: not health.confirming, timeout=5, what="the check's end")
        assert not health.down and answers == [200]
        assert api.get("/api/forms").status_code == 200
    finally:
        store.stop()
