"""A circuit breaker per integration: open after N failures, defer without spending attempts, trial, close."""

from __future__ import annotations

from tests.conftest import Api
from tests.support.sink import Reply
from tests.support.wait import wait_until


def _circuit(api, config_id):
    return api.get(f"/api/plugin-configs/{config_id}").json["circuit"]


def test_circuit_opens_defers_half_opens_and_closes(make_app, sink):
    app = make_app(SCHEDULER_ENABLED=True, WORKER_THREADS=1, CIRCUIT_FAILURE_THRESHOLD=3, CIRCUIT_COOLDOWN=3)
    api = Api(app.test_client())
    sink.responder = lambda req: Reply(503)
    form = api.create_form()
    config = api.add_plugin(form["id"], "webhook", {"url": sink.url}, max_attempts=10)
    assert config["circuit"]["state"] == "closed"
    jobs = [api.submit(form["id"], {"n": i})["jobs"][0] for i in range(4)]

    opened = wait_until(lambda: (c := _circuit(api, config["id"]))["state"] == "open" and c, what="circuit open")
    assert opened["consecutive_failures"] >= 3
    failed_attempts = len(sink.requests)
    assert failed_attempts == 3
    # While open, jobs wait: none is sent, and no attempt is spent on them (a job being put back shows its
    # claim for a moment, so wait for them to settle).
    def settled():
        waiting = [api.job(j) for j in jobs]
        return all(j["status"] == "pending" for j in waiting) and sum(j["attempts"] for j in waiting) == 3

    wait_until(settled, what="jobs deferred with their attempts refunded")
    assert len(sink.requests) == 3

    sink.responder = lambda req: Reply(200)
    wait_until(lambda: all(api.job(j)["status"] == "completed" for j in jobs), timeout=30, what="all delivered")
    closed = _circuit(api, config["id"])
    assert (closed["state"], closed["consecutive_failures"]) == ("closed", 0)
    assert len(sink.requests) == 3 + 4


def test_failed_trial_reopens_with_a_longer_cooldown(make_app, sink):
    app = make_app(SCHEDULER_ENABLED=True, WORKER_THREADS=1, CIRCUIT_FAILURE_THRESHOLD=2, CIRCUIT_COOLDOWN=0.5)
    api = Api(app.test_client())
    sink.responder = lambda req: Reply(500)
    form = api.create_form()
    config = api.add_plugin(form["id"], "webhook", {"url": sink.url}, max_attempts=20)
    api.submit(form["id"], {"n": 1})
    reopened = wait_until(
        lambda: (c := _circuit(api, config["id"]))["state"] == "open" and (c["cooldown_seconds"] or 0) >= 1 and c,
        what="circuit reopened after a failed trial",
    )
    assert reopened["cooldown_seconds"] == 1.0


def test_config_failing_for_too_long_is_disabled_with_the_reason(make_app, sink):
    app = make_app(SCHEDULER_ENABLED=True, CIRCUIT_FAILURE_THRESHOLD=100, CIRCUIT_DISABLE_AFTER=0.5)
    api = Api(app.test_client())
    sink.responder = lambda req: Reply(500)
    form = api.create_form()
    config = api.add_plugin(form["id"], "webhook", {"url": sink.url}, max_attempts=50)
    api.submit(form["id"], {"n": 1})
    disabled = wait_until(
        lambda: not (c := api.get(f"/api/plugin-configs/{config['id']}").json)["enabled"] and c, what="disabled"
    )
    assert "without a single success" in disabled["disabled_reason"]
