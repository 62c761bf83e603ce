"""Jobs and execution logs: list with filters, read, retry, cancel."""

from __future__ import annotations

from flask import current_app, jsonify, request

from app.api import bp
from app.api.scope import WRITE, scoped_or_404, visible
from app.api.util import paginate, query_id
from app.engine import jobs as lifecycle
from app.engine.scheduler import wake_scheduler
from app.errors import APIError
from app.models import JobStatus, LogStatus, PluginExecutionLog, PluginJob


def _status_filter(allowed: list[str]) -> str | None:
    status = request.args.get("status")
    if status is not None and status not in allowed:
        raise APIError(400, "bad_request", f"status must be one of {', '.join(allowed)}.")
    return status


def _filters(names: tuple[str, ...], statuses: list[str]) -> dict:
    filters = {name: value for name in names if (value := query_id(name)) is not None}
    if (status := _status_filter(statuses)) is not None:
        filters["status"] = status
    return filters


@bp.get("/jobs")
def list_jobs():
    filters = _filters(("form_id", "config_id", "submission_id"), [s.value for s in JobStatus])
    return jsonify(paginate(PluginJob.objects(**visible(**filters)), PluginJob.to_dict))


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
    return jsonify(paginate(PluginExecutionLog.objects(**visible(**filters)), PluginExecutionLog.to_dict))
