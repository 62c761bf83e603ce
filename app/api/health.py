"""Liveness and readiness probes (no token needed)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from app.engine.fairshare import waiting_for_cap
from app.services import services
from app.store_health import store_fault

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@health.get("/readyz")
def readyz():
    """Ready when the store answers and the scheduler runs. Answers within DB_TIMEOUT_MS whatever the
    request pool is doing: a known outage is answered at once, otherwise the store is pinged on a client
    of its own."""
    checks = {"database": "ok", "scheduler": "ok"}
    health = services(current_app).store_health
    if health.down or not health.ping():
        checks["database"] = "unreachable"
    scheduler = services(current_app).scheduler
    if current_app.config["SCHEDULER_ENABLED"] and (scheduler is None or not scheduler.running):
        checks["scheduler"] = "stopped"
    elif not current_app.config["SCHEDULER_ENABLED"]:
        checks["scheduler"] = "disabled"
    # Plugin worker processes still starting: deliveries would wait for them.
    checks["plugin_workers"] = "starting" if services(current_app).plugin_host.pool.warming else "ok"
    ready = (
        checks["database"] == "ok"
        and checks["scheduler"] in ("ok", "disabled")
        and checks["plugin_workers"] == "ok"
    )
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    if scheduler is not None:
        # Hung plugin calls whose threads were abandoned at their deadline (bounded by MAX_ABANDONED_THREADS).
        body["abandoned_threads"] = scheduler.deadlines.abandoned
    body["isolation"] = services(current_app).plugin_host.status()
    if checks["database"] == "ok":
        # Due jobs waiting because their integration already runs INTEGRATION_CONCURRENCY jobs.
        try:
            body["waiting_for_integration_cap"] = waiting_for_cap(
                int(current_app.config["INTEGRATION_CONCURRENCY"])
            )
        except Exception as exc:
            if store_fault(exc) is None:
                raise
    return jsonify(body), 200 if ready else 503
