"""Failures: retry with backoff, permanent errors, Retry-After, attempts exhausted, timeouts. Every attempt logged."""

from __future__ import annotations

import threading
import time

from bson import ObjectId

from app.contract import ExecutionResult, Plugin
from app.engine.queue import JobQueue
from app.engine.runner import run_one
from app.models import PluginJob
from app.services import services
from plugins.webhook.plugin import WebhookConfig
from tests.support.sink import Reply
from tests.support.wait import wait_until


def _finished(api, job_id):
    return wait_until(
        lambda: (j := api.job(job_id))["status"] in ("completed", "failed") and j, what="job finished"
    )


def _run_to_end(app, api, job_id: str) -> dict:
    """Claim and run the job in this thread until it finishes, each retry made due at once (no scheduler)."""
    coll, queue = PluginJob._get_collection(), JobQueue("me", lease_seconds=30)
    while True:
        coll.update_one({"_id": ObjectId(job_id), "status": "pending"}, {"$set": {"scheduled_for": time.time()}})
        [job] = queue.claim(10)
        if run_one(app, job)["status"] in ("completed", "failed"):
            return api.job(job_id)


def _setup(api, sink, **extra):
    form = api.create_form()
    api.add_plugin(form["id"], "webhook", {"url": sink.url}, **extra)
    return form


def test_500_then_success_is_retried_and_delivered(live_api, sink):
    replies = iter([Reply(500, b"boom"), Reply(503), Reply(200)])
    sink.responder = lambda req: next(replies)
    form = _setup(live_api, sink)
    job_id = live_api.submit(form["id"], {"a": 1})["jobs"][0]

    job = _finished(live_api, job_id)

    assert job["status"] == "completed"
    assert job["attempts"] == 3
    assert [entry["status"] for entry in job["logs"]] == ["failed", "failed", "success"]
    assert job["logs"][0]["response"]["status_code"] == 500
    assert "HTTP 500" in job["logs"][0]["error_message"]
    assert job["logs"][0]["error_type"] == "retryable"
    assert len({r.headers["webhook-id"] for r in sink.requests}) == 1


def test_400_fails_at_once(app, api, sink):
    sink.responder = lambda req: Reply(400, b"bad field")
    form = _setup(api, sink)
    job = _run_to_end(app, api, api.submit(form["id"], {"a": 1})["jobs"][0])
    assert job["status"] == "failed"
    assert job["attempts"] == 1
    assert "HTTP 400" in job["last_error"] and "bad field" in job["last_error"]
    assert job["logs"][0]["error_type"] == "permanent"


def test_410_disables_the_config_with_the_reason(app, api, sink):
    sink.responder = lambda req: Reply(410)
    form = _setup(api, sink)
    config_id = api.get(f"/api/forms/{form['id']}/plugins").json["items"][0]["id"]
    job = _run_to_end(app, api, api.submit(form["id"], {"a": 1})["jobs"][0])
    assert job["status"] == "failed"
    config = api.get(f"/api/plugin-configs/{config_id}").json
    assert config["enabled"] is False
    assert "410" in config["disabled_reason"]
    assert api.submit(form["id"], {"a": 2})["jobs"] == []


def test_429_retry_after_is_honoured(live_api, sink):
    replies = iter([Reply(429, headers={"Retry-After": "1"}), Reply(200)])
    sink.responder = lambda req: next(replies)
    form = _setup(live_api, sink)
    job = _finished(live_api, live_api.submit(form["id"], {"a": 1})["jobs"][0])
    assert job["status"] == "completed"
    first, second = (entry for entry in job["logs"])
    assert first["response"]["status_code"] == 429
    gap = _ts(second["executed_at"]) - _ts(first["executed_at"])
    # Backoff in tests is at most 0.2 s, so only Retry-After explains a gap of a second.
    assert gap >= 0.95


def test_max_attempts_then_failed_with_every_attempt_logged(app, api, sink):
    sink.responder = lambda req: Reply(502)
    form = _setup(api, sink, max_attempts=3)
    job = _run_to_end(app, api, api.submit(form["id"], {"a": 1})["jobs"][0])
    assert job["status"] == "failed"
    assert job["attempts"] == 3
    assert [entry["attempt"] for entry in job["logs"]] == [1, 2, 3]
    assert len(sink.requests) == 3
    logs = api.get("/api/logs", query_string={"job_id": job["id"]}).json["items"]
    assert len(logs) == 3


def test_unreachable_destination_is_retried(app, api):
    form = api.create_form()
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/nothing-listens"}, max_attempts=2)
    job = _run_to_end(app, api, api.submit(form["id"], {"a": 1})["jobs"][0])
    assert job["status"] == "failed"
    assert job["attempts"] == 2
    assert "Could not connect" in job["last_error"]


def test_manual_retry_of_failed_job_delivers(live_api, sink):
    sink.responder = lambda req: Reply(400)
    form = _setup(live_api, sink)
    job = _finished(live_api, live_api.submit(form["id"], {"a": 1})["jobs"][0])
    assert job["status"] == "failed"
    sink.responder = lambda req: Reply(200)
    assert live_api.post(f"/api/jobs/{job['id']}/retry").status_code == 200
    job = wait_until(lambda: (j := live_api.job(job["id"]))["status"] == "completed" and j, what="retried")
    assert len(job["logs"]) == 2


class HangingPlugin(Plugin):
    """Ignores its deadline until released."""

    id = "hang"
    name = "Hang"
    config_schema = WebhookConfig
    release = threading.Event()

    def execute(self, ctx):
        self.release.wait(30)
        return ExecutionResult()


def test_hanging_plugin_times_out_while_other_jobs_complete(make_app, sink):
    from tests.conftest import Api

    app = make_app(SCHEDULER_ENABLED=True, JOB_TIMEOUT=0.5, WORKER_THREADS=2)
    services(app).plugins.register(HangingPlugin, "test")
    api = Api(app.test_client())
    form = api.create_form()
    api.add_plugin(form["id"], "hang", {"url": sink.url}, max_attempts=1)
    api.add_plugin(form["id"], "webhook", {"url": sink.url})
    try:
        hang_job, *_ = api.submit(form["id"], {"a": 1})["jobs"]
        for i in range(5):
            api.submit(form["id"], {"a": i})
        sink.wait_for(6)
        job = _finished(api, hang_job)
        assert job["status"] == "failed"
        assert job["logs"][0]["status"] == "timeout"
        assert "Timed out" in job["logs"][0]["error_message"]
        assert api.client.get("/readyz").json["abandoned_threads"] >= 1
    finally:
        HangingPlugin.release.set()


def _ts(iso: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
