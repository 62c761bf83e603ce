"""The store goes away under load and comes back: 503s meanwhile, never a 500, nothing accepted is lost."""

from __future__ import annotations

import collections
import threading
import time

import pytest

from app.store.embedded import EmbeddedStore
from tests.conftest import Api
from tests.support.wait import wait_until


@pytest.mark.slow
def test_store_outage_under_load(make_app, tmp_path, sink):
    store = EmbeddedStore(tmp_path / "store").start()
    try:
        app = make_app(MONGODB_URI=store.uri, SCHEDULER_ENABLED=True, DB_TIMEOUT_MS=500)
        api = Api(app.test_client())
        form = api.create_form()
        api.add_plugin(form["id"], "webhook", {"url": sink.url})

        statuses: collections.Counter = collections.Counter()
        accepted: list[str] = []
        stop = threading.Event()

        def load() -> None:
            client = Api(app.test_client())
            n = 0
            while not stop.is_set():
                resp = client.post(f"/api/forms/{form['id']}/submissions", {"data": {"n": n}})
                statuses[resp.status_code] += 1
                assert resp.is_json and "error" in resp.json or resp.status_code == 202
                if resp.status_code == 202:
                    accepted.append(resp.json["id"])
                n += 1

        loader = threading.Thread(target=load)
        loader.start()
        wait_until(lambda: len(accepted) >= 20, what="load running")
        store.kill()
        outage_ends = time.monotonic() + 10
        wait_until(lambda: statuses[503] >= 3, what="503s during the outage")
        wait_until(lambda: time.monotonic() > outage_ends, timeout=15, what="10 s outage")
        assert app.test_client().get("/readyz").status_code == 503
        store.start()
        before_restart = statuses[202]
        wait_until(lambda: statuses[202] >= before_restart + 5, timeout=30, what="intake accepting again")
        stop.set()
        loader.join(10)

        assert set(statuses) <= {202, 503}, statuses
        delivered = lambda: {r.json()["submission_id"] for r in sink.requests}  # noqa: E731
        wait_until(
            lambda: set(accepted) <= delivered(), timeout=60, what="every accepted submission delivered"
        )
        assert app.test_client().get("/readyz").status_code == 200
    finally:
        store.stop()
