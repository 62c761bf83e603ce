"""Jobs and execution logs: list with filters, read, retry, cancel."""

from __future__ import annotations

from flask import current_app, jsonify

from app.api import bp
from app.api.lists import newest_page
from app.api.scope import WRITE, scoped_or_404
from app.api.util import query_id, status_arg
from app.engine import jobs as lifecycle
from app.engine.scheduler import wake_scheduler
from app.errors import APIError
from app.models import JobStatus, LogStatus, PluginExecutionLog, PluginJob


def _filters(names: tuple[str, ...], statuses: list[str]) -> dict:
    filters = {name: value for name in names if (value := query_id(name)) is not None}
    if (status := status_arg(statuses)) is not None:
        filters["status"] = status
    return filters


@bp.get("/jobs")
def list_jobs():
    filters = _filters(("form_id", "config_id", "submission_id"), [s.value for s in JobStatus])
    return jsonify(newest_page(PluginJob, filters, ("submission_id", "form_id")))


@bp.get("/jobs/<job_id>")
def get_job(job_id: str):
    job = scoped_or_404(PluginJob, job_id, "job")
    logs = PluginExecutionLog.objects(job_id=str(job.id)).order_by("attempt")
    return jsonify({**job.to_dict(), "logs": [entry.to_dict() for entry in logs]})


@bp.post("/jobs/<job_id>/retry")
def retry_job(job_id: str):
    """Send a finished job again (failed, cancelled, or completed: a resend), with a fresh attempt budget."""
    job = scoped_or_404(PluginJob, job_id, "job", WRITE)
    try:
        lifecycle.resend(job.id, current_app.config["MAX_ATTEMPTS"])
    except lifecycle.JobStateError as err:
        raise APIError(409, "conflict", str(err)) from None
    wake_scheduler(current_app)
    return jsonify(job.reload().to_dict())


@bp.post("/jobs/<job_id>/cancel")
def cancel_job(job_id: str):
    job = scoped_or_404(PluginJob, job_id, "job", WRITE)
    try:
        lifecycle.cancel(job.id)
    except lifecycle.JobStateError as err:
        raise APIError(409, "conflict", str(err)) from None
    return jsonify(job.reload().to_dict())


@bp.get("/logs")
def list_logs():
    filters = _filters(("job_id", "config_id", "form_id"), [s.value for s in LogStatus])
    return jsonify(newest_page(PluginExecutionLog, filters, ("job_id", "form_id")))
