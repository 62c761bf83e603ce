"""Jobs and execution logs: list with filters, read, retry, cancel."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request

from app.api import bp
from app.api.scope import WRITE, scoped_or_404, visible
from app.api.util import page_args, query_id
from app.engine import jobs as lifecycle
from app.engine.scheduler import wake_scheduler
from app.errors import APIError
from app.models import JobStatus, LogStatus, PluginExecutionLog, PluginJob, created_field
from app.models.newest import TooFarBack, newest_rows


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


def _newest(model: type[PluginJob] | type[PluginExecutionLog], filters: dict[str, Any], by: tuple[str, ...]) -> dict:
    """A page of the caller's jobs or logs matching ``filters``, newest first, each read served by an index
    (app.models.newest): anchored on the first filter of ``by`` given, else on each visible workspace."""
    page, per_page = page_args()
    scope = visible()
    workspaces = [scope["workspace_id"]] if "workspace_id" in scope else scope["workspace_id__in"]
    field = next((name for name in by if name in filters), None)
    where = {name: {"$eq": value} for name, value in filters.items() if name != field}
    if field is None:
        anchors = [("workspace_id", ws) for ws in workspaces]
    else:
        anchors = [(field, filters[field])]
        where["workspace_id"] = {"$in": workspaces}
    skip = (page - 1) * per_page
    try:
        rows = newest_rows(model._get_collection(), anchors, created_field(model), where, skip, per_page + 1)
    except TooFarBack as err:
        raise APIError(400, "bad_request", str(err)) from None
    items = [model._from_son(row).to_dict() for row in rows[:per_page]]
    return {"items": items, "page": page, "per_page": per_page, "has_more": len(rows) > per_page}


@bp.get("/jobs")
def list_jobs():
    filters = _filters(("form_id", "config_id", "submission_id"), [s.value for s in JobStatus])
    return jsonify(_newest(PluginJob, filters, ("submission_id", "form_id")))


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
    return jsonify(_newest(PluginExecutionLog, filters, ("job_id", "form_id")))
