"""Prometheus metrics at GET /metrics (prometheus-client; multiprocess-safe under gunicorn).

Counters and histograms are fed by the job lifecycle signals. Jobs by status and circuit states are read
from the store at scrape time, so every process reports the same, whole-database figures.
When PROMETHEUS_MULTIPROC_DIR is set (``make run`` and docker-compose set it), samples of every worker
process are aggregated.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app import signals
from app.engine.fairshare import WAITING_COUNT_CAP, waiting_for_cap
from app.errors import error_response
from app.models import PluginConfig, PluginJob, as_datetime
from app.services import services
from app.store_health import store_fault

JOBS_CREATED = Counter("formhooks_jobs_created_total", "Jobs created", ["plugin"])
JOBS_COMPLETED = Counter("formhooks_jobs_completed_total", "Jobs completed", ["plugin"])
JOBS_FAILED = Counter("formhooks_jobs_failed_total", "Jobs failed for good", ["plugin"])
JOBS_RETRIED = Counter(
    "formhooks_jobs_retried_total", "Attempts that failed and were rescheduled", ["plugin"]
)
JOBS_DEFERRED = Counter(
    "formhooks_jobs_deferred_total", "Jobs put back without an attempt", ["plugin", "reason"]
)
EXECUTION = Histogram(
    "formhooks_execution_duration_seconds",
    "Duration of one attempt",
    ["plugin"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
WORKER_RESTARTS = Counter(
    "formhooks_plugin_worker_restarts_total",
    "Plugin worker processes replaced, by reason (memory, deadline, crash, cpu, exit)",
    ["reason"],
)
RENDERS_REFUSED = Counter(
    "formhooks_template_renders_refused_total",
    "Template renders refused by their budget, by limit (output, iterations, width, integer, time)",
    ["limit"],
)
DISPATCH = Histogram(
    "formhooks_dispatch_latency_seconds",
    "From job creation to the start of its first attempt",
    buckets=(0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)

bp = Blueprint("metrics", __name__)


class StoreCollector(Collector):
    """Jobs by status, circuit states and jobs held back by the integration cap, from the store."""

    def __init__(self, cap: int):
        self.cap = cap

    def collect(self):
        by_status = GaugeMetricFamily("formhooks_jobs", "Jobs by status", labels=["status"])
        circuits = GaugeMetricFamily(
            "formhooks_circuits", "Integration configs by circuit state", labels=["state"]
        )
        capped = GaugeMetricFamily(
            "formhooks_jobs_waiting_for_integration_cap",
            "Due jobs waiting because their integration already runs INTEGRATION_CONCURRENCY jobs"
            f" (counted up to {WAITING_COUNT_CAP:,} per integration)",
        )
        try:
            rows = PluginJob._get_collection().aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
            for row in rows:
                by_status.add_metric([str(row["_id"])], row["n"])
            states: dict[str, int] = {"closed": 0, "open": 0, "half_open": 0}
            for cfg in PluginConfig._get_collection().find({}, {"circuit.state": 1}):
                state = (cfg.get("circuit") or {}).get("state", "closed")
                states[state] = states.get(state, 0) + 1
            for state, n in states.items():
                circuits.add_metric([state], n)
            capped.add_metric([], waiting_for_cap(self.cap))
        except Exception as exc:
            if store_fault(exc) is None:
                raise
            return  # the store did not answer: its figures are left out
        yield by_status
        yield circuits
        yield capped


LOOPBACK = ("127.0.0.1", "::1")


def _allowed() -> bool:
    """With METRICS_TOKEN set, only ``Authorization: Bearer <METRICS_TOKEN>``; without, only this host."""
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(sent.encode(), token.encode())
    return request.remote_addr in LOOPBACK


@bp.get("/metrics")
def metrics():
    """Prometheus figures of every workspace: for the operator only (see _allowed)."""
    if not _allowed():
        return error_response(401, "unauthorized", "Send Authorization: Bearer <METRICS_TOKEN>.")
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    body = generate_latest(registry)
    if not services(current_app).store_health.down:  # during an outage the store's figures are left out at once
        store = CollectorRegistry()
        store.register(StoreCollector(int(current_app.config["INTEGRATION_CONCURRENCY"])))
        body += generate_latest(store)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def _plugin(job: dict[str, Any]) -> str:
    return job.get("plugin_id", "unknown")


def _worker_replaced(sender: Any, reason: str, **_: Any) -> None:
    WORKER_RESTARTS.labels(reason).inc()


def _render_refused(sender: Any, limit: str, **_: Any) -> None:
    RENDERS_REFUSED.labels(limit).inc()


def init_app(app: Flask) -> None:
    def created(sender, job_id, plugin_id, **_):
        JOBS_CREATED.labels(plugin_id).inc()

    def started(sender, job, **_):
        if job.get("attempts") == 1 and job.get("created_at") and job.get("started_at"):
            latency = as_datetime(job["started_at"]) - as_datetime(job["created_at"])
            DISPATCH.observe(max(0.0, latency.total_seconds()))

    def completed(sender, job, duration, **_):
        JOBS_COMPLETED.labels(_plugin(job)).inc()
        EXECUTION.labels(_plugin(job)).observe(duration)

    def failed(sender, job, duration, **_):
        JOBS_FAILED.labels(_plugin(job)).inc()
        EXECUTION.labels(_plugin(job)).observe(duration)

    def retried(sender, job, duration, **_):
        JOBS_RETRIED.labels(_plugin(job)).inc()
        EXECUTION.labels(_plugin(job)).observe(duration)

    def deferred(sender, job, reason, **_):
        JOBS_DEFERRED.labels(_plugin(job), reason).inc()

    receivers = {
        signals.job_created: created,
        signals.job_started: started,
        signals.job_completed: completed,
        signals.job_failed: failed,
        signals.job_retried: retried,
        signals.job_deferred: deferred,
    }
    services(app).receivers.extend(receivers.values())
    for signal, receiver in receivers.items():
        signal.connect(receiver, sender=app)
    # Sent without a sender (templates and worker pools know no app): connected once per process.
    signals.worker_replaced.connect(_worker_replaced)
    signals.render_refused.connect(_render_refused)
    app.register_blueprint(bp)
