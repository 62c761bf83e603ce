"""A store that did not answer is a 503 with the JSON error shape (admin pages: a page with a retry link),
whatever the shape of the error and wherever it is raised, and nothing is half-written; an app's
housekeeping pass never outlives its scheduler's shutdown (it would use the store of the next app)."""

from __future__ import annotations

import threading

import pytest
from pymongo.collection import Collection
from pymongo.errors import (
    AutoReconnect,
    ExecutionTimeout,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
    WriteConcernError,
)

from app.services import services
from app.store.embedded import free_port
from tests.conftest import Api, ui_login
from tests.support.wait import wait_until

URL = "http://127.0.0.1:9/hook"
# (error raised by the store's client, the 503's code)
SHAPES = [
    (ServerSelectionTimeoutError("No servers found yet, Timeout: 0.3s"), "store_unavailable"),
    (AutoReconnect("127.0.0.1:27017: [Errno 104] Connection reset by peer"), "store_unavailable"),
    (NotPrimaryError("not primary"), "store_unavailable"),
    (NetworkTimeout("127.0.0.1:27017: timed out"), "store_timeout"),
    (ExecutionTimeout("operation exceeded time limit", 50), "store_timeout"),
    # answers of a server for a member it could not reach (a mongos, a replica set); mongoengine wraps them
    (OperationFailure("ShutdownInProgress", 91), "store_unavailable"),
    (OperationFailure("HostUnreachable", 6), "store_unavailable"),
    (OperationFailure("SocketException", 9001), "store_unavailable"),
    (OperationFailure("PrimarySteppedDown", 189), "store_unavailable"),
    (OperationFailure("NetworkTimeout", 89), "store_timeout"),
    # a write whose write concern was not met (a replica set's member did not answer in time, or shut down)
    (WriteConcernError("waiting for replication timed out", 64), "store_timeout"),
    (WriteConcernError("shutting down", 91), "store_unavailable"),
]
IDS = [f"{type(e).__name__}-{getattr(e, 'code', '')}" for e, _ in SHAPES]


def _error_shape(resp, code: str) -> None:
    assert resp.status_code == 503, resp.data[:300]
    body = resp.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert resp.headers["Retry-After"]


def _failing(monkeypatch, method: str, collection: str, error: BaseException) -> list[str]:
    """``Collection.<method>`` of ``collection`` raises ``error`` (once armed: ``armed.append(...)``)."""
    original = getattr(Collection, method)
    armed: list[str] = []

    def failing(self, *args, **kwargs):
        if armed and self.name == collection:
            raise error
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Collection, method, failing)
    return armed


@pytest.mark.parametrize(("error", "code"), SHAPES, ids=IDS)
def test_an_integration_save_the_store_did_not_answer_is_a_503_and_saves_nothing(
    app, api, monkeypatch, error, code
):
    form = api.create_form()
    armed = _failing(monkeypatch, "insert_one", "plugin_configs", error)
    armed.append("on")
    resp = api.post(f"/api/forms/{form['id']}/plugins", {"plugin_id": "webhook", "config": {"url": URL}})
    _error_shape(resp, code)
    armed.clear()
    assert api.get(f"/api/forms/{form['id']}/plugins").json["items"] == []  # nothing half-written
    wait_until(lambda: not services(app).store_health.confirming, what="the store's check")
    assert not services(app).store_health.down  # the store answers its check: no outage
    assert api.add_plugin(form["id"], "webhook", {"url": URL})["form_id"] == form["id"]


@pytest.mark.parametrize(("error", "code"), SHAPES[::3], ids=IDS[::3])
def test_an_admin_page_the_store_did_not_answer_is_a_page_with_a_retry_link(app, monkeypatch, error, code):
    client = ui_login(app)
    armed = _failing(monkeypatch, "find", "forms", error)
    armed.append("on")
    resp = client.get("/admin/forms")
    assert resp.status_code == 503 and resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert "Try again" in page and 'href="http://localhost/admin/forms"' in page
    assert ("unreachable" if code == "store_unavailable" else "took too long") in page


ENDPOINTS = [
    ("post", "/api/forms/{form}/plugins", {"plugin_id": "webhook", "config": {"url": URL}}),
    ("post", "/api/forms", {"name": "New", "fields": []}),
    ("patch", "/api/forms/{form}", {"name": "Renamed"}),
    ("get", "/api/forms", None),
    ("delete", "/api/forms/{form}", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_an_app_whose_store_cannot_be_reached_answers_503_with_the_json_error(make_app, method, path, body):
    app = make_app(MONGODB_URI=f"mongodb://127.0.0.1:{free_port()}/", DB_TIMEOUT_MS=300)
    api = Api(app.test_client())
    url = path.format(form="a" * 24)
    call = getattr(api, method)
    _error_shape(call(url, body) if body is not None else call(url), "store_unavailable")
    wait_until(lambda: services(app).store_health.down, timeout=5, what="the circuit open")
    _error_shape(call(url, body) if body is not None else call(url), "store_unavailable")  # refused at once


def test_a_scheduler_shutdown_waits_for_its_running_housekeeping_pass(make_app):
    """A pass left running after its scheduler stopped used the process's store connection while the next
    app replaced it, and left that app a closed one: every request of it answered 500."""
    scheduler = services(make_app(SCHEDULER_ENABLED=True)).scheduler
    returned = threading.Event()
    seen: list[bool] = []

    def long_pass() -> None:
        wait_until(lambda: scheduler.stopping, what="the shutdown")
        seen.append(returned.wait(0.5))  # (a pass that takes a while longer)

    running = threading.Thread(target=scheduler.guarded, args=("maintain", long_pass))
    running.start()
    scheduler.shutdown(grace=5)
    returned.set()
    running.join(5)
    assert seen == [False]  # the pass ended before the shutdown returned


SLOW_SHAPES = [
    OperationFailure("operation exceeded time limit", 50),
    OperationFailure("HostUnreachable", 6),
    NetworkTimeout("timed out"),
]


@pytest.mark.parametrize("error", SLOW_SHAPES, ids=repr)
def test_metrics_and_readiness_leave_out_the_figures_the_store_did_not_answer(app, monkeypatch, error):
    for method in ("aggregate", "find"):  # (the jobs by status; the running ones, for the cap)
        _failing(monkeypatch, method, "plugin_jobs", error).append("on")
    client = app.test_client()
    metrics = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert metrics.status_code == 200 and b"formhooks_jobs{" not in metrics.data
    assert b"formhooks_" in metrics.data  # the process's own figures are there
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["checks"]["database"] == "ok"
    assert "waiting_for_integration_cap" not in ready.json


@pytest.mark.parametrize("hosts", [1, 3])
def test_a_store_whose_every_address_refuses_is_known_down_by_the_refusal_not_a_whole_connect_window(hosts):
    # (a stopped store refuses at once; waiting out server selection would answer its requests slowly for
    # one more connect window before the circuit opened)
    from app.store_health import StoreHealth  # noqa: PLC0415

    nodes = ",".join(f"127.0.0.1:{free_port()}" for _ in range(hosts))
    health = StoreHealth(f"mongodb://{nodes}/formhooks", timeout_ms=30_000)
    try:
        assert isinstance(health.unreachable(), ConnectionRefusedError)
    finally:
        health.close()


def test_a_store_with_one_address_answering_is_checked_by_its_ping(store_uri):
    from app.store_health import StoreHealth  # noqa: PLC0415

    health = StoreHealth(store_uri, timeout_ms=3_000)
    try:
        assert health.unreachable() is None
    finally:
        health.close()
