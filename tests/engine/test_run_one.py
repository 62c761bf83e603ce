"""One claimed job run to its recorded outcome in the test's thread (engine.runner.run_one): the runner's
outcome handling, the circuit, backoff and the writer's record, without scheduler threads or sleeps."""

from __future__ import annotations

import time
from typing import Any, ClassVar

import pytest
from bson import ObjectId

from app.contract import ExecutionResult, Plugin, PluginError
from app.engine.queue import JobQueue
from app.engine.runner import run_one
from app.models import PluginConfig, PluginExecutionLog
from app.services import services
from plugins.webhook.plugin import WebhookConfig

BACKOFF = {"RETRY_BACKOFF_BASE": 10.0, "RETRY_BACKOFF_MAX": 40.0}


class Scripted(Plugin):
    """Each call takes the next step of ``script``: an ExecutionResult to return or an exception to raise."""

    id = "scripted"
    name = "Scripted"
    config_schema = WebhookConfig
    script: ClassVar[list[Any]] = []

    def execute(self, ctx):
        step = Scripted.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step


@pytest.fixture
def form(make_app):
    """A form with one integration of the scripted plugin (three attempts, circuit breaker out of the way)."""
    from tests.conftest import Api

    app = make_app(CIRCUIT_FAILURE_THRESHOLD=100, **BACKOFF)
    services(app).plugins.register(Scripted, "test")
    api = Api(app.test_client())
    made = api.create_form()
    api.add_plugin(made["id"], "scripted", {"url": "https://example.com/hook"}, max_attempts=3)
    Scripted.script = []
    yield app, api, made
    Scripted.script = []


def _attempt(form, *steps: Any, attempts_before: int = 0) -> tuple[dict, list[dict]]:
    """Submit, claim the job, run it once with ``steps`` scripted; the job as stored and its log rows."""
    app, api, made = form
    Scripted.script = list(steps)
    job_id = ObjectId(api.submit(made["id"], {"a": 1})["jobs"][0])
    if attempts_before:
        from app.models import PluginJob

        PluginJob._get_collection().update_one({"_id": job_id}, {"$set": {"attempts": attempts_before}})
    [job] = JobQueue("me", lease_seconds=30).claim(10)
    assert job["_id"] == job_id
    stored = run_one(app, job)
    logs = list(PluginExecutionLog._get_collection().find({"job_id": str(job_id)}))
    assert Scripted.script == []  # the plugin ran exactly the steps given, in this thread
    return stored, logs


@pytest.mark.parametrize(
    "result", [ExecutionResult(), ExecutionResult(summary="sent", response={"status_code": 201})]
)
def test_a_success_is_recorded_completed_with_its_log(form, result):
    job, logs = _attempt(form, result)
    assert job["status"] == "completed" and job["attempts"] == 1 and job["lease_owner"] is None
    assert [log["status"] for log in logs] == ["success"]
    assert logs[0]["summary"] == result.summary


@pytest.mark.parametrize(
    "error",
    [PluginError("HTTP 503"), PluginError("connection reset"), TimeoutError("read timed out")],
)
def test_a_transient_failure_goes_back_to_pending_within_the_backoff(form, error):
    before = time.time()
    job, logs = _attempt(form, error)
    assert job["status"] == "pending" and job["attempts"] == 1
    # first retry: full jitter under RETRY_BACKOFF_BASE
    assert before <= job["scheduled_for"] <= time.time() + BACKOFF["RETRY_BACKOFF_BASE"]
    assert [log["status"] for log in logs] == ["failed"]
    assert job["last_error"]


@pytest.mark.parametrize("retry_after", [60.0, 600.0, 3600.0])
def test_a_retry_after_is_a_floor_for_the_next_attempt(form, retry_after):
    before = time.time()
    job, _ = _attempt(form, PluginError("HTTP 429", retry_after=retry_after))
    assert job["status"] == "pending"
    assert before + retry_after <= job["scheduled_for"] <= time.time() + retry_after + 1


@pytest.mark.parametrize("message", ["HTTP 400: bad field", "HTTP 404", "invalid token"])
def test_a_permanent_failure_fails_the_job_at_once(form, message):
    job, logs = _attempt(form, PluginError(message, permanent=True))
    assert job["status"] == "failed" and job["attempts"] == 1
    assert message in job["last_error"]
    assert logs[0]["error_type"] == "permanent"


@pytest.mark.parametrize("error", [PluginError("HTTP 500"), RuntimeError("bug in the plugin")])
def test_the_last_attempt_fails_the_job_instead_of_retrying(form, error):
    job, _ = _attempt(form, error, attempts_before=2)  # the claim spends the third and last
    assert job["status"] == "failed" and job["attempts"] == 3


def test_a_disable_request_fails_the_job_and_disables_the_integration(form):
    job, _ = _attempt(form, PluginError("HTTP 410 Gone", permanent=True, disable=True))
    assert job["status"] == "failed"
    [config] = PluginConfig._get_collection().find({"plugin_id": "scripted"})
    assert not config["enabled"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"$set": {"enabled": False}}, "The integration is disabled."),
        (None, "The integration was deleted."),
    ],
)
def test_a_job_whose_integration_went_away_is_cancelled_without_a_call(form, change, reason):
    app, api, made = form
    job_id = ObjectId(api.submit(made["id"], {"a": 1})["jobs"][0])
    coll = PluginConfig._get_collection()
    if change is None:
        coll.delete_many({"plugin_id": "scripted"})
    else:
        coll.update_many({"plugin_id": "scripted"}, change)
    [job] = JobQueue("me", lease_seconds=30).claim(10)
    stored = run_one(app, job)
    assert stored["_id"] == job_id
    assert stored["status"] == "cancelled" and stored["last_error"] == reason


def test_a_plugin_that_is_not_installed_fails_the_job_for_good(form):
    app, api, made = form
    api.submit(made["id"], {"a": 1})
    [job] = JobQueue("me", lease_seconds=30).claim(10)
    job["plugin_id"] = "uninstalled"
    stored = run_one(app, job)
    assert stored["status"] == "failed" and "not installed" in stored["last_error"]
