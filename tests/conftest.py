"""Fixtures: one real store per test session (nx-27017, or MONGODB_URI), a fresh database per test. Under
pytest-xdist every worker is a session of its own, with its own store."""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid
from collections.abc import Callable, Iterator

import pymongo
import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.services import services
from app.store.embedded import EmbeddedStore
from tests.support import route_cache
from tests.support.sink import Sink

route_cache.install()  # every test builds an app: its URL rules' builders are compiled once per process

ADMIN_TOKEN = "test-admin-token"
_db_names = itertools.count()

FAST = {
    "POLL_INTERVAL": 0.2,
    "RETRY_BACKOFF_BASE": 0.05,
    "RETRY_BACKOFF_MAX": 0.2,
    "LEASE_SECONDS": 5,
    "SWEEP_INTERVAL": 0.5,
    "SWEEP_MIN_AGE": 0.5,
    "JOB_TIMEOUT": 5,
    "SHUTDOWN_GRACE": 2,
    "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1",  # scrypt costs 0.1 s a hash; no test is about its cost
    "HOSTED_MIN_SECONDS": 0,  # tests fill the hosted page at once; tests/admin_ui/test_hosted_spam.py sets it
}


# For a test whose requests do much store work but are not about the store's deadline: on a host loaded by
# the suite's other workers such a request can outlast the default DB_TIMEOUT_MS (3 s) and be answered 503.
PATIENT_STORE = {"DB_TIMEOUT_MS": 15_000}


def _start_order(item: pytest.Item) -> tuple[int, float]:
    """Heavy tests first, the longest of them first (``heavy(seconds=...)``: about how long it runs on an
    unloaded worker), then the slow and browser tests, then the rest."""
    heavy = item.get_closest_marker("heavy")
    if heavy:
        return 0, -heavy.kwargs.get("seconds", 0)
    return (1 if item.get_closest_marker("slow") or item.get_closest_marker("browser") else 2), 0


def _dealt(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    """``items`` (sorted) as ``workers`` runs of the sizes xdist's worksteal scheduler first hands out, the
    heavy, slow and browser tests dealt round the runs in turn: each worker starts with its share of them."""
    first = [item for item in items if _start_order(item)[0] < 2]
    rest = iter(item for item in items if _start_order(item)[0] == 2)
    sizes, left = [], len(items)
    for i in range(workers):
        sizes.append(left // (workers - i))
        left -= sizes[-1]
    runs: list[list[pytest.Item]] = [first[i::workers] for i in range(workers)]
    if any(len(run) > size for run, size in zip(runs, sizes, strict=True)):
        return items
    for run, size in zip(runs, sizes, strict=True):
        run.extend(itertools.islice(rest, size - len(run)))
    return [item for run in runs for item in run]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In parallel workers (pytest-xdist) each worker starts with its share of the heavy tests (longest
    first), then of the slow and browser ones, so that the run does not end with one worker still in a long
    test while the others wait (idle workers take the rest of the others' queues: ``--dist worksteal``).
    Every worker sorts alike."""
    if hasattr(config, "workerinput"):
        items.sort(key=_start_order)
        items[:] = _dealt(items, int(config.workerinput.get("workercount", 1)))


@pytest.fixture(scope="session")
def store_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """MONGODB_URI when set (real MongoDB), else an nx-27017 process for the whole session."""
    if os.environ.get("MONGODB_URI"):
        yield os.environ["MONGODB_URI"]
        return
    store = EmbeddedStore(tmp_path_factory.mktemp("store")).start()
    os.environ["FORMHOOKS_TEST_STORE_URI"] = store.uri
    yield store.uri
    store.stop()


@pytest.fixture(scope="session")
def _dropper(store_uri: str) -> Iterator[pymongo.MongoClient]:
    """One client for the whole session that drops each test's database (a client per test cost a handshake
    and a monitor thread each time)."""
    client: pymongo.MongoClient = pymongo.MongoClient(store_uri, serverSelectionTimeoutMS=2000)
    yield client
    client.close()


@pytest.fixture
def db_name(_dropper: pymongo.MongoClient) -> Iterator[str]:
    name = f"fh_test_{os.getpid()}_{next(_db_names)}_{uuid.uuid4().hex[:6]}"
    yield name
    with contextlib.suppress(pymongo.errors.PyMongoError):
        _dropper.drop_database(name)


@pytest.fixture
def make_app(store_uri: str, db_name: str, tmp_path) -> Iterator[Callable[..., Flask]]:
    """Build apps on this test's database; schedulers started by them are shut down afterwards."""
    apps: list[Flask] = []

    def factory(**overrides) -> Flask:
        config = {
            "MONGODB_URI": store_uri,
            "MONGODB_DB": db_name,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "SECRET_KEY": "test-secret-key",
            "DATA_DIR": str(tmp_path / "data"),
            "ALLOW_PRIVATE_DESTINATIONS": True,
            "SCHEDULER_ENABLED": False,
            "PLUGIN_DISCOVERY": False,
            **FAST,
            **overrides,
        }
        app = create_app(config)
        app.testing = True
        apps.append(app)
        return app

    yield factory
    for app in apps:
        scheduler = services(app).scheduler
        if scheduler:
            scheduler.shutdown(grace=1)
        services(app).store_health.close()


@pytest.fixture
def app(make_app) -> Flask:
    """An app without a scheduler (API tests)."""
    return make_app()


@pytest.fixture
def live_app(make_app) -> Flask:
    """An app whose scheduler runs jobs."""
    return make_app(SCHEDULER_ENABLED=True)


class Api:
    """A test client that sends the admin token and JSON."""

    def __init__(self, client: FlaskClient, token: str = ADMIN_TOKEN):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def __getattr__(self, method: str):
        def call(path: str, json=None, **kwargs):
            headers = {**self.headers, **kwargs.pop("headers", {})}
            return getattr(self.client, method)(path, json=json, headers=headers, **kwargs)

        return call

    def create_form(self, name: str = "Contact", fields=None) -> dict:
        resp = self.post("/api/forms", {"name": name, "fields": fields or []})
        assert resp.status_code == 201, resp.json
        return resp.json

    def add_plugin(self, form_id: str, plugin_id: str, config: dict, **extra) -> dict:
        resp = self.post(f"/api/forms/{form_id}/plugins", {"plugin_id": plugin_id, "config": config, **extra})
        assert resp.status_code == 201, resp.json
        return resp.json

    def submit(self, form_id: str, data: dict) -> dict:
        resp = self.post(f"/api/forms/{form_id}/submissions", {"data": data})
        assert resp.status_code == 202, resp.json
        return resp.json

    def job(self, job_id: str) -> dict:
        return self.get(f"/api/jobs/{job_id}").json


@pytest.fixture
def api(app: Flask) -> Api:
    return Api(app.test_client())


@pytest.fixture
def live_api(live_app: Flask) -> Api:
    return Api(live_app.test_client())


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    s.close()


def login_form_token(client: FlaskClient) -> str:
    """The CSRF token of the admin login page, as the browser would send it back."""
    html = client.get("/admin/login").get_data(as_text=True)
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def ui_login(app: Flask) -> FlaskClient:
    """A client logged in to the admin UI as the first owner."""
    client = app.test_client()
    form = {"email": "admin@example.com", "password": app.config["ADMIN_PASSWORD"]}
    resp = client.post("/admin/login", data={**form, "csrf_token": login_form_token(client)})
    assert resp.status_code == 302, resp.status_code
    return client
