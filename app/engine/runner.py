"""One attempt of one job: run the plugin with a deadline, log the attempt, move the job on."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from bson import ObjectId
from flask import Flask

from app import signals
from app.contract import ExecutionContext, ExecutionResult, Plugin, PluginError
from app.contract.registry import PluginRegistry
from app.engine.backoff import retry_delay
from app.engine.circuit import CircuitBreaker
from app.engine.deadline import DeadlineExceeded, DeadlineRunner
from app.engine.queue import JobQueue
from app.engine.ratelimit import RateLimiter
from app.engine.writer import ResultWriter
from app.models import JobStatus, LogStatus, PluginConfig, utcnow
from app.secret_scrub import hiding, scrub_attempt, secret_values
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
        self,
        app: Flask,
        queue: JobQueue,
        registry: PluginRegistry,
        box: SecretBox,
        deadlines: DeadlineRunner,
        writer: ResultWriter,
    ):
        self.app = app
        self.queue = queue
        self.writer = writer
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
        # Changes this process made to configs after they were read with a claim batch (circuit, enabled),
        # so that jobs of the same batch see them: config id -> (monotonic time, fields).
        self._changed: dict[str, tuple[float, dict[str, Any]]] = {}

    def load_configs(self, jobs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The configs of a batch of claimed jobs, in one read."""
        ids = list({ObjectId(job["config_id"]) for job in jobs})
        return self.as_loaded(PluginConfig._get_collection().find({"_id": {"$in": ids}}))

    @staticmethod
    def as_loaded(configs: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Config documents just read, by id, as ``run`` takes them."""
        loaded_at = time.monotonic()
        return {str(c["_id"]): {**c, "_loaded_at": loaded_at} for c in configs}

    def _latest(self, config: dict[str, Any]) -> dict[str, Any]:
        changed = self._changed.get(str(config["_id"]))
        if changed and changed[0] > config.get("_loaded_at", 0):
            return {**config, **changed[1]}
        return config

    def _remember(self, config: dict[str, Any], **fields: Any) -> None:
        previous = self._changed.get(str(config["_id"]), (0.0, {}))[1]
        self._changed[str(config["_id"])] = (time.monotonic(), {**previous, **fields})

    def run(self, job: dict[str, Any], config: dict[str, Any] | None) -> None:
        """One attempt of ``job`` with its ``config`` as read at claim time (None: the config was deleted)."""
        config = self._latest(config) if config is not None else None
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
        if admission.circuit is not None:
            self._remember(config, circuit=admission.circuit)
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
            outcome = self._guarded_attempt(plugin, job, config)
        outcome.duration = time.monotonic() - started
        self._settle(job, config, outcome, admission.trial, self._log(job, outcome, started_at))

    def _guarded_attempt(self, plugin: Plugin, job: dict[str, Any], config: dict[str, Any]) -> Outcome:
        """Decrypt the config once, run the attempt, and keep its secrets out of everything recorded."""
        schema = plugin.config_schema()
        try:
            opened = self.box.open(schema, config.get("config") or {})
        except ValueError as exc:  # keys were rotated away without `flask rotate-keys`
            return Outcome(LogStatus.FAILED, PluginError(f"{exc}.", permanent=True), error_type="permanent")
        hidden = secret_values(schema, opened)
        with hiding(hidden):
            outcome = self._attempt(plugin, job, opened)
        scrub_attempt(outcome.error, outcome.result, hidden)
        return outcome

    def _attempt(self, plugin: Plugin, job: dict[str, Any], opened: dict[str, Any]) -> Outcome:
        timeout = float(self.settings["JOB_TIMEOUT"])
        try:
            ctx = ExecutionContext(
                job_id=str(job["_id"]),
                idempotency_key=job["idempotency_key"],
                event=job["event"],
                attempt=job["attempts"],
                max_attempts=job["max_attempts"],
                config=opened,
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

    def _log(self, job: dict[str, Any], outcome: Outcome, started_at: datetime) -> dict[str, Any]:
        """The execution log row of this attempt."""
        result, error = outcome.result, outcome.error
        response = result.response if result else (error.response if error else {})
        request = result.request if result else dict(response.pop("request", {}) if response else {})
        return {
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
            "duration_ms": int(outcome.duration * 1000),
            "error_type": outcome.error_type,
            "error_message": error.message if error else None,
            "request": request,
            "response": response,
        }

    def _settle(
        self,
        job: dict[str, Any],
        config: dict[str, Any],
        outcome: Outcome,
        trial: bool,
        log_doc: dict[str, Any],
    ) -> None:
        error, duration = outcome.error, outcome.duration
        if error is None:
            if (closed := self.circuit.succeeded(config)) is not None:
                self._remember(config, circuit=closed)
            self.writer.submit(
                log_doc,
                self.queue.finish_op(job, JobStatus.COMPLETED),
                lambda: signals.job_completed.send(self.app, job=job, duration=duration),
            )
            return
        circuit, disabled = self.circuit.failed(config, trial)
        self._remember(config, circuit=circuit)
        if disabled or error.disable:
            self._remember(config, enabled=False)
        if error.disable:
            PluginConfig._get_collection().update_one(
                {"_id": config["_id"]},
                {"$set": {"enabled": False, "disabled_reason": error.message, "disabled_at": utcnow()}},
            )
        if error.permanent or disabled or job["attempts"] >= job["max_attempts"]:
            self.writer.submit(
                log_doc,
                self.queue.finish_op(job, JobStatus.FAILED, error.message),
                lambda: signals.job_failed.send(self.app, job=job, error=error.message, duration=duration),
            )
            return
        delay = retry_delay(
            job["attempts"],
            self.settings["RETRY_BACKOFF_BASE"],
            self.settings["RETRY_BACKOFF_MAX"],
            error.retry_after,
        )
        self.writer.submit(
            log_doc,
            self.queue.retry_op(job, time.time() + delay, error.message),
            lambda: signals.job_retried.send(
                self.app, job=job, error=error.message, delay=delay, duration=duration
            ),
        )
