"""One attempt of one job: run the plugin with a deadline, log the attempt, move the job on."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bson import ObjectId
from flask import Flask

from app import signals
from app.contract import ExecutionContext, ExecutionResult, PluginError
from app.contract.registry import PluginRegistry
from app.engine.backoff import retry_delay
from app.engine.circuit import CircuitBreaker
from app.engine.deadline import DeadlineExceeded, DeadlineRunner
from app.engine.queue import JobQueue
from app.engine.ratelimit import RateLimiter
from app.models import LogStatus, PluginConfig, PluginExecutionLog, utcnow
from app.secrets_box import SecretBox

log = logging.getLogger(__name__)


class Outcome:
    """What an attempt came to, before it is written down."""

    def __init__(
        self,
        status: LogStatus,
        error: PluginError | None = None,
        result: ExecutionResult | None = None,
        error_type: str | None = None,
    ):
        self.status, self.error, self.result, self.error_type = status, error, result, error_type
        self.duration = 0.0


class JobRunner:
    """Executes claimed jobs. Holds no per-job state; safe to call from many threads."""

    def __init__(
        self, app: Flask, queue: JobQueue, registry: PluginRegistry, box: SecretBox, deadlines: DeadlineRunner
    ):
        self.app = app
        self.queue = queue
        self.registry = registry
        self.box = box
        self.deadlines = deadlines
        self.settings: Mapping[str, Any] = app.config
        cfg = app.config
        self.circuit = CircuitBreaker(
            threshold=cfg["CIRCUIT_FAILURE_THRESHOLD"],
            cooldown=cfg["CIRCUIT_COOLDOWN"],
            cooldown_max=cfg["CIRCUIT_COOLDOWN_MAX"],
            disable_after=cfg["CIRCUIT_DISABLE_AFTER"],
            trial_timeout=cfg["JOB_TIMEOUT"] * 2 + 5,
        )
        self.limiter = RateLimiter(box)

    def run(self, job: dict[str, Any]) -> None:
        config = PluginConfig._get_collection().find_one({"_id": ObjectId(job["config_id"])})
        if config is None or not config.get("enabled", True):
            reason = "The integration was deleted." if config is None else "The integration is disabled."
            self.queue.cancel(job, reason)
            return
        wait = self.limiter.delay_for(self.registry.get(job["plugin_id"]), job, config.get("config") or {})
        if wait > 0:
            self.queue.defer(job, wait)
            signals.job_deferred.send(self.app, job=job, reason="rate_limit", seconds=wait)
            return
        admission = self.circuit.admit(config)
        if not admission.run:
            self.queue.defer(job, admission.defer)
            signals.job_deferred.send(self.app, job=job, reason="circuit_open", seconds=admission.defer)
            return
        plugin = self.registry.get(job["plugin_id"])
        signals.job_started.send(self.app, job=job)
        started_at = utcnow()
        started = time.monotonic()
        if plugin is None:
            outcome = Outcome(
                LogStatus.FAILED,
                PluginError(f"Plugin {job['plugin_id']!r} is not installed.", permanent=True),
            )
        else:
            outcome = self._attempt(plugin, job, config)
        outcome.duration = time.monotonic() - started
        self._log(job, outcome, started_at, int(outcome.duration * 1000))
        self._settle(job, config, outcome, admission.trial)

    def _attempt(self, plugin, job: dict[str, Any], config: dict[str, Any]) -> Outcome:
        timeout = float(self.settings["JOB_TIMEOUT"])
        try:
            ctx = ExecutionContext(
                job_id=str(job["_id"]),
                idempotency_key=job["idempotency_key"],
                event=job["event"],
                attempt=job["attempts"],
                max_attempts=job["max_attempts"],
                config=self.box.open(plugin.config_schema(), config.get("config", {})),
                payload=job["payload"],
                deadline=time.monotonic() + timeout,
                settings=self.settings,
            )
            result = self.deadlines.call(lambda: plugin.execute(ctx), timeout)
            return Outcome(
                LogStatus.SUCCESS, result=result if isinstance(result, ExecutionResult) else ExecutionResult()
            )
        except DeadlineExceeded as exc:
            return Outcome(
                LogStatus.TIMEOUT, PluginError(f"Timed out: the plugin {exc}."), error_type="timeout"
            )
        except PluginError as exc:
            return Outcome(LogStatus.FAILED, exc, error_type="permanent" if exc.permanent else "retryable")
        except Exception as exc:  # a bug in a plugin must not kill the worker; retried like a transient error
            log.exception("plugin %s raised", job["plugin_id"])
            return Outcome(
                LogStatus.FAILED,
                PluginError(f"{type(exc).__name__} in plugin"),
                error_type=type(exc).__name__,
            )

    def _log(self, job: dict[str, Any], outcome: Outcome, started_at: datetime, duration_ms: int) -> None:
        result, error = outcome.result, outcome.error
        response = result.response if result else (error.response if error else {})
        request = result.request if result else dict(response.pop("request", {}) if response else {})
        PluginExecutionLog._get_collection().insert_one(
            {
                "job_id": str(job["_id"]),
                "config_id": job["config_id"],
                "form_id": job.get("form_id"),
                "workspace_id": job.get("workspace_id"),
                "submission_id": job.get("submission_id"),
                "plugin_id": job["plugin_id"],
                "attempt": job["attempts"],
                "worker": self.queue.owner,
                "event": job["event"],
                "status": outcome.status.value,
                "executed_at": started_at,
                "duration_ms": duration_ms,
                "error_type": outcome.error_type,
                "error_message": error.message if error else None,
                "request": request,
                "response": response,
            }
        )

    def _settle(self, job: dict[str, Any], config: dict[str, Any], outcome: Outcome, trial: bool) -> None:
        error = outcome.error
        if error is None:
            self.circuit.succeeded(config)
            if self.queue.complete(job):
                signals.job_completed.send(self.app, job=job, duration=outcome.duration)
            return
        disabled = self.circuit.failed(config, trial)
        if error.disable:
            PluginConfig._get_collection().update_one(
                {"_id": config["_id"]},
                {"$set": {"enabled": False, "disabled_reason": error.message, "disabled_at": utcnow()}},
            )
        if error.permanent or disabled or job["attempts"] >= job["max_attempts"]:
            if self.queue.fail(job, error.message):
                signals.job_failed.send(self.app, job=job, error=error.message, duration=outcome.duration)
            return
        delay = retry_delay(
            job["attempts"],
            self.settings["RETRY_BACKOFF_BASE"],
            self.settings["RETRY_BACKOFF_MAX"],
            error.retry_after,
        )
        if self.queue.retry_at(job, time.time() + delay, error.message):
            signals.job_retried.send(
                self.app, job=job, error=error.message, delay=delay, duration=outcome.duration
            )
