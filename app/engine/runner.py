"""One attempt of one job: run the plugin with a deadline, log the attempt, move the job on."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from bson import ObjectId
from flask import Flask

from app import signals
from app.contract import PluginError
from app.contract.registry import PluginRegistry
from app.engine import jobs
from app.engine.backoff import retry_delay
from app.engine.circuit import CircuitBreaker, step_circuit_docs, step_circuits
from app.engine.deadline import DeadlineRunner
from app.engine.host_steps import step_plugin
from app.engine.jobs import disable_integration, out_of_attempts
from app.engine.outcome import Outcome
from app.engine.queue import JobQueue
from app.engine.ratelimit import RateLimiter
from app.engine.records import ConfigRecord, JobRecord
from app.engine.subscriptions import forget as forget_subscriptions
from app.engine.workflow_runs import runs as workflow_runs
from app.engine.writer import ResultWriter
from app.models import JobStatus, LogStatus, PluginConfig, PluginExecutionLog, PluginJob, as_datetime, utcnow
from app.secrets_box import SecretBox
from app.services import services

log = logging.getLogger(__name__)


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
        self.deadlines = deadlines
        self.calls = services(app).plugin_calls
        self.settings: Mapping[str, Any] = app.config
        cfg = app.config
        settings = {
            "threshold": cfg["CIRCUIT_FAILURE_THRESHOLD"],
            "cooldown": cfg["CIRCUIT_COOLDOWN"],
            "cooldown_max": cfg["CIRCUIT_COOLDOWN_MAX"],
            "disable_after": cfg["CIRCUIT_DISABLE_AFTER"],
            "trial_timeout": cfg["JOB_TIMEOUT"] * 2 + 5,
        }
        self.circuit = CircuitBreaker(**settings)
        self.step_circuit = CircuitBreaker(**settings, store=step_circuits, disable=None)  # workflow steps
        self.limiter = RateLimiter(box)
        self.copies = services(app).subscriptions

    def load_configs(self, jobs: list[JobRecord]) -> dict[str, ConfigRecord]:
        """The configs of a batch of claimed jobs: healthy ones as this process read them within
        FORM_CACHE_SECONDS, the others fresh in one read (their circuits decide). A workflow step's is its
        circuit's document (engine.circuit), kept likewise."""
        found = self.copies.configs_by_id(
            {job["config_id"] for job in jobs if not job.get("run_id")}, _read_configs
        )
        steps = {job["config_id"] for job in jobs if job.get("run_id")}
        found.update(self.copies.configs_by_id(steps, _read_step_circuits))
        return {
            config_id: self.as_loaded([doc], read_at)[config_id]
            for config_id, (read_at, doc) in found.items()
        }

    @staticmethod
    def as_loaded(configs: Iterable[dict[str, Any]], read_at: float | None = None) -> dict[str, ConfigRecord]:
        """Config documents read at ``read_at`` (``time.monotonic()``; now by default), by id, as ``run``
        takes them."""
        loaded_at = time.monotonic() if read_at is None else read_at
        return {str(c["_id"]): cast(ConfigRecord, {**c, "_loaded_at": loaded_at}) for c in configs}

    def _current(self, job: JobRecord, config: ConfigRecord | None) -> ConfigRecord | None:
        """``job``'s ``config``, or its state now when this process changed it after that copy was read (a
        job of the same batch opened its circuit or disabled it; an API write): None when it was deleted.
        A workflow step's job handed off at insert comes without one: it is read then."""
        read_at = float("-inf") if config is None else config.get("_loaded_at", float("-inf"))
        if config is not None and not self.copies.stale(config["_id"], read_at):
            return config
        if config is None and not job.get("run_id"):
            return None
        return self.load_configs([job]).get(job["config_id"])

    def _breaker(self, job: JobRecord) -> CircuitBreaker:
        """The circuits ``job``'s config is in: an integration's, or a workflow step's."""
        return self.step_circuit if job.get("run_id") else self.circuit

    def _changed(self, config: ConfigRecord) -> None:
        """This process has just written a change to ``config``: later jobs read it again."""
        self.copies.changed(config["_id"])

    def run(self, job: JobRecord, config: ConfigRecord | None) -> None:
        """One attempt of ``job`` with its ``config`` as read at claim time (None: the config was deleted).
        A workflow step's job carries its config, rendered for its run (engine.workflow_runs)."""
        config = self._current(job, config)
        if job.get("run_id"):
            config = step_config(job, config)
        if config is None or not config.get("enabled", True):
            reason = "The integration was deleted." if config is None else "The integration is disabled."
            self.queue.cancel(job, reason)
            return
        plugin = (
            step_plugin(self.registry, job["plugin_id"])
            if job.get("run_id")
            else self.registry.get(job["plugin_id"])
        )
        wait = self.limiter.delay_for(plugin, job, config.get("config") or {})
        if wait > 0:
            self.queue.defer(job, wait)
            signals.job_deferred.send(self.app, job=job, reason="rate_limit", seconds=wait)
            return
        admission = self._breaker(job).admit(config)
        if admission.circuit is not None:
            self._changed(config)
        if not admission.run:
            self.queue.defer(job, admission.defer)
            signals.job_deferred.send(self.app, job=job, reason="circuit_open", seconds=admission.defer)
            return
        signals.job_started.send(self.app, job=job)
        started_at = utcnow()
        started = time.monotonic()
        if plugin is None:
            outcome = Outcome(
                LogStatus.FAILED,
                PluginError(f"Plugin {job['plugin_id']!r} is not installed.", permanent=True),
            )
        else:
            outcome = self.calls.execute(plugin, job, config.get("config") or {}, self.deadlines)
        outcome.duration = time.monotonic() - started
        self._settle(job, config, outcome, admission.trial, self._log(job, outcome, started_at))

    def outcome_unknown(self, job: JobRecord, reason: str) -> bool:
        """Record an attempt whose result will never be seen (the process is stopping during the call).

        The job keeps its claim and lease: the call may have reached the destination, so it is not
        released; when the lease expires the job is requeued and runs again under the same idempotency
        key. False when the job finished after all.
        """
        if not self.queue.note(job, reason):
            return False
        outcome = Outcome(LogStatus.UNKNOWN, PluginError(reason), error_type="outcome_unknown")
        started_at = as_datetime(job.get("started_at")) or utcnow()
        outcome.duration = (utcnow() - started_at).total_seconds()
        PluginExecutionLog._get_collection().insert_one(self._log(job, outcome, started_at))
        return True

    def _log(self, job: JobRecord, outcome: Outcome, started_at: datetime) -> dict[str, Any]:
        """The execution log row of this attempt."""
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
            "executed_at": started_at,
            "duration_ms": int(outcome.duration * 1000),
            **outcome.log_fields(),
        }

    def _settle(
        self,
        job: JobRecord,
        config: ConfigRecord,
        outcome: Outcome,
        trial: bool,
        log_doc: dict[str, Any],
    ) -> None:
        error, duration = outcome.error, outcome.duration
        step = bool(job.get("run_id"))  # (a workflow step: no integration to disable)
        if error is None:
            if self._breaker(job).succeeded(config) is not None:
                self._changed(config)
            output = outcome.result.output if outcome.result else {}
            self.writer.submit(
                log_doc,
                jobs.finish(job, JobStatus.COMPLETED),
                lambda: self._settled(job, duration, output=output),
                urgent=bool(job.get("run_id")),  # the run's next step waits for it
            )
            return
        _, disabled = self._breaker(job).failed(config, trial)
        if error.disable and not step:
            disable_integration(config["_id"], error.message)
        # (after the store has it: a copy read meanwhile would keep it enabled)
        if not step and (disabled or error.disable):
            forget_subscriptions(self.app)
        else:
            self._changed(config)
        if error.permanent or disabled or (step and error.disable) or out_of_attempts(job):
            self.writer.submit(
                log_doc,
                jobs.finish(job, JobStatus.FAILED, error.message),
                lambda: self._settled(job, duration, error=error.message),
                urgent=bool(job.get("run_id")),
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
            jobs.retry(job, time.time() + delay, error.message),
            lambda: signals.job_retried.send(
                self.app, job=job, error=error.message, delay=delay, duration=duration
            ),
        )

    def _settled(
        self, job: JobRecord, duration: float, output: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        """A job's outcome is written: a workflow step's run moves on (its next step's job is written),
        then the lifecycle signal goes out."""
        if job.get("run_id"):
            workflow_runs(self.app).settle_later(job, error is None, output, error, duration)
        if error is None:
            signals.job_completed.send(self.app, job=job, duration=duration)
        else:
            signals.job_failed.send(self.app, job=job, error=error, duration=duration)


def step_config(job: JobRecord, circuit: ConfigRecord | None) -> ConfigRecord:
    """The config a workflow step's job runs with: the one rendered for its run, always enabled, with the
    step's ``circuit`` document as loaded (engine.circuit: keyed by the step, ``job["config_id"]``); its
    rate limits and deadline are those of any job (a step has no integration to disable)."""
    config: dict[str, Any] = {
        "_id": job["config_id"],
        "plugin_id": job["plugin_id"],
        "enabled": True,
        "config": job.get("step_config") or {},
        "_loaded_at": (circuit or {}).get("_loaded_at", time.monotonic()),
    }
    if circuit is not None and circuit.get("circuit") is not None:
        config["circuit"] = circuit["circuit"]
    return cast(ConfigRecord, config)


def run_one(app: Flask, job: JobRecord) -> dict[str, Any]:
    """Run the claimed ``job`` to its recorded outcome in the calling thread: the same ``JobRunner.run``
    the scheduler's workers call (the plugin through engine.plugin_calls, outcome, circuit, backoff, the
    writer's record), with the plugin called and the result written here. Returns the job as stored after.
    For tests and tools: a built-in's network waits end by the deadline and a plugin process is killed at
    it, as on a worker; any other plugin in this process gets no deadline."""
    found = services(app)
    queue = JobQueue(job.get("lease_owner") or "run_one", app.config["LEASE_SECONDS"])
    runner = JobRunner(
        app,
        queue,
        found.plugins,
        found.secrets,
        DeadlineRunner(0, 0),
        ResultWriter(found.inserts.submissions.group.atomic, inline=True),
    )
    runner.run(job, runner.load_configs([job]).get(job["config_id"]))
    return PluginJob._get_collection().find_one({"_id": job["_id"]})


def _read_step_circuits(keys: list[str]) -> list[dict[str, Any]]:
    """The circuit documents of workflow steps ``keys``; a step without one (it never failed) as ``{"_id"}``,
    which is healthy and kept like a healthy config."""
    found = step_circuit_docs(keys)
    return [found.get(key) or {"_id": key} for key in keys]


def _read_configs(ids: list[str]) -> list[dict[str, Any]]:
    """The config documents of ``ids``, from the store."""
    return list(PluginConfig._get_collection().find({"_id": {"$in": [ObjectId(i) for i in ids]}}))
