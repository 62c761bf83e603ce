"""The store goes away under a steady stream of submissions and comes back.

While it is gone every request is answered within DB_TIMEOUT_MS (+ 1 s): a 503 with the JSON error shape,
at once once the outage is known; /readyz says so; nothing accepted is lost; the log says it once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest
from flask import Flask

from app.engine.scheduler import Scheduler
from app.services import services
from app.store.embedded import EmbeddedStore, free_port
from tests.conftest import Api
from tests.support.wait import wait_until

TIMEOUT_MS = 1000
OUTAGE = 5.0  # seconds: long enough for every request to learn of it (DB_TIMEOUT_MS + 1 s) and then some
UNREACHABLE, BACK = "store unreachable", "store reachable again"


@dataclass
class Answer:
    started: float
    took: float
    status: int


class Stream:
    """Submissions at ``rate`` per second from two threads, and /readyz polled every 0.1 s."""

    def __init__(self, app: Flask, form_id: str, rate: float = 20.0):
        self.app, self.form_id, self.period = app, form_id, 2 / rate
        self.answers: list[Answer] = []
        self.ready: list[Answer] = []
        self.accepted: list[str] = []
        self.opened: float | None = None  # when the store's circuit was first seen open
        self.odd: list[str] = []  # answers that are neither a 202 nor a JSON error
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._submit, args=(i,)) for i in range(2)]
        self._threads.append(threading.Thread(target=self._poll_ready))
        for t in self._threads:
            t.start()

    def _submit(self, n: int) -> None:
        client = Api(self.app.test_client())
        while not self._stop.wait(self.period):
            started = time.monotonic()
            resp = client.post(f"/api/forms/{self.form_id}/submissions", {"data": {"n": n}})
            self.answers.append(Answer(started, time.monotonic() - started, resp.status_code))
            if resp.status_code == 202:
                self.accepted.append(resp.json["id"])
            elif not (resp.is_json and "error" in resp.json):
                self.odd.append(f"{resp.status_code} {resp.data[:200]!r}")
            n += 2

    def _poll_ready(self) -> None:
        client = self.app.test_client()
        while not self._stop.wait(0.1):
            started = time.monotonic()
            status = client.get("/readyz").status_code
            self.ready.append(Answer(started, time.monotonic() - started, status))
            if self.opened is None and services(self.app).store_health.down:
                self.opened = time.monotonic()

    def accepted_since(self, moment: float) -> int:
        return sum(1 for a in self.answers if a.status == 202 and a.started >= moment)

    def ready_since(self, moment: float, status: int) -> Answer | None:
        return next((a for a in self.ready if a.started >= moment and a.status == status), None)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(10)


def _lines(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["sigstop", "sigkill"])
def test_a_store_outage_is_answered_within_the_db_timeout_and_loses_nothing(
    make_app, tmp_path, sink, caplog, fault
):
    store = EmbeddedStore(tmp_path / "store").start()
    try:
        app = make_app(MONGODB_URI=store.uri, SCHEDULER_ENABLED=True, DB_TIMEOUT_MS=TIMEOUT_MS)
        api = Api(app.test_client())
        form = api.create_form()
        api.add_plugin(form["id"], "webhook", {"url": sink.url})
        stream = Stream(app, form["id"])
        try:
            wait_until(lambda: len(stream.accepted) >= 20, what="submissions accepted")
            stopped = time.monotonic()
            store.pause() if fault == "sigstop" else store.kill()
            faulted = time.monotonic()  # (the signal sent: a ping from here on cannot be answered)
            # The same process, port and data directory come back after the outage.
            wait_until(lambda: time.monotonic() > stopped + OUTAGE, timeout=OUTAGE + 5, what="the outage")
            back = time.monotonic()  # the store may answer from here on (before resume/start returns)
            store.resume() if fault == "sigstop" else store.start()
            resumed = time.monotonic()
            wait_until(lambda: stream.ready_since(resumed, 200), timeout=10, what="/readyz 200 again")
            wait_until(lambda: stream.accepted_since(resumed) >= 5, timeout=10, what="intake accepting")
        finally:
            stream.stop()

        assert not stream.odd
        assert {a.status for a in stream.answers} == {202, 503}
        slowest = max(stream.answers + stream.ready, key=lambda a: a.took)
        assert slowest.took <= TIMEOUT_MS / 1000 + 1, (
            f"{'/readyz' if slowest in stream.ready else 'a submission'} took {slowest.took:.2f} s, "
            f"{slowest.status}, asked {slowest.started - stopped:+.2f} s from the outage"
        )
        # /readyz pings the store each time: the first poll asked after the stop says so (within the bound
        # above). When that poll was asked is the poller thread's cadence, which a loaded host stretches.
        not_ready = next((a for a in stream.ready if a.started >= faulted), None)
        assert not_ready and not_ready.status == 503, not_ready
        assert stream.ready_since(resumed, 200).started <= resumed + 3
        # Once the outage is known (the circuit's check could not connect), nothing waits behind the store
        # (target ≤ 200 ms in bench/; bound here generous for a loaded machine).
        known = stream.opened
        # a failed request, then its check (each within TIMEOUT_MS), with 2 s for a host running the suite
        # two workers per core (3.27 s seen there against 3 s); bench/ times the outage figures on an idle one
        assert known and known <= stopped + 2 * TIMEOUT_MS / 1000 + 2
        during = [a for a in stream.answers if known <= a.started and a.started + a.took < back]
        assert during and {a.status for a in during} == {503}
        assert _p99([a.took for a in during]) < TIMEOUT_MS / 1000 / 2

        delivered = lambda: {r.json()["submission_id"] for r in sink.requests}  # noqa: E731
        wait_until(lambda: set(stream.accepted) <= delivered(), timeout=30, what="all accepted delivered")
        assert len(_lines(caplog, UNREACHABLE)) == 1, _lines(caplog, UNREACHABLE)
        assert len(_lines(caplog, BACK)) == 1, _lines(caplog, BACK)
        assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    finally:
        store.stop()


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _dead_store_app(make_app) -> Flask:
    """An app whose store is gone (nothing listens on its port)."""
    return make_app(MONGODB_URI=f"mongodb://127.0.0.1:{free_port()}/", DB_TIMEOUT_MS=300, LEASE_SECONDS=1.5)


def test_the_scheduler_waits_out_a_dead_store_quietly(make_app, caplog):
    scheduler = Scheduler(_dead_store_app(make_app), owner="quiet")
    scheduler.housekeep("reap")  # finds the store gone
    for _ in range(3):  # then every housekeeping pass waits for the store's probe
        scheduler.housekeep("renew")
        scheduler.housekeep("reap")
        scheduler.housekeep("maintain")
        scheduler.poll()

    assert len(_lines(caplog, UNREACHABLE)) == 1
    assert not _lines(caplog, BACK)
    assert not [r for r in caplog.records if r.exc_info or "didn't yield" in r.getMessage()]


def test_a_known_outage_is_refused_at_once_with_the_json_error(make_app):
    app = _dead_store_app(make_app)
    api = Api(app.test_client())
    first = api.get("/api/forms")
    assert first.status_code == 503
    assert first.json["error"]["code"] == "store_unavailable"
    wait_until(lambda: services(app).store_health.down, timeout=3, what="the outage known (its check)")

    started = time.monotonic()
    answers = [api.post(f"/api/forms/{'a' * 24}/submissions", {"data": {}}) for _ in range(5)]
    healthz, readyz, metrics = (api.get(path) for path in ("/healthz", "/readyz", "/metrics"))
    took = time.monotonic() - started
    assert {r.status_code for r in answers} == {503}
    assert {r.json["error"]["code"] for r in answers} == {"store_unavailable"}
    assert {r.json["error"]["details"].get("stored") for r in answers} == {"no"}  # refused: nothing stored
    assert (healthz.status_code, readyz.status_code, metrics.status_code) == (200, 503, 200)
    assert readyz.json["checks"]["database"] == "unreachable"
    assert took < 0.5  # eight answers, none waiting the 0.3 s DB_TIMEOUT_MS
