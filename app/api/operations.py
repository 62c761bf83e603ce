"""Backfill and bulk replay as tracked operations: count preview, start, progress, cancel."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import current_app, jsonify

from app.api import bp
from app.api.schemas import BackfillIn, ReplayIn
from app.api.scope import WRITE, check_workspace, scoped_or_404, visible
from app.api.util import json_body, load, paginate
from app.auth import require_principal
from app.auth.locks import held
from app.engine import operations
from app.engine.scheduler import wake_scheduler
from app.errors import APIError, invalid
from app.models import Form, Operation, PluginConfig, isoformat


def _window(body: dict[str, Any]) -> dict[str, Any]:
    """The time range as UTC ISO strings (None when open)."""
    since, until = body.get("since"), body.get("until")
    if since and until and since >= until:
        raise invalid({"until": ["Must be after since."]})
    utc = [t.astimezone(dt.UTC).replace(tzinfo=None) if t else None for t in (since, until)]
    return {"since": isoformat(utc[0]), "until": isoformat(utc[1])}


def start_operation(
    kind: str, workspace_id: str | None, params: dict[str, Any], preview: bool, config_ids: list[str]
):
    """202 with the operation; a preview only counts (its ``total``, once ``prepared``) and completes.
    409 while one of ``config_ids`` has an operation running; 429 past the workspace's running operations
    or an integration's resends (OPERATIONS_PER_WORKSPACE, OPERATION_RESEND_INTERVAL)."""
    cfg = current_app.config
    limits = operations.Limits(cfg["OPERATIONS_PER_WORKSPACE"], cfg["OPERATION_RESEND_INTERVAL"])
    user_id = require_principal().user_id
    try:
        with held(f"operations:{workspace_id}"):  # two starts at once: the second sees the first
            op = operations.start(kind, workspace_id, params, user_id, preview, config_ids, limits)
    except operations.OperationRefused as refused:
        err = APIError(refused.status, refused.code, refused.message, refused.details or None)
        if refused.retry_after is not None:
            err.headers = {"Retry-After": str(refused.retry_after)}
        raise err from None
    wake_scheduler(current_app)
    return jsonify(op.to_dict()), 202


@bp.post("/plugin-configs/<config_id>/backfill")
def backfill(config_id: str):
    """Send the form's existing submissions to this integration (``preview``: only count them)."""
    cfg = scoped_or_404(PluginConfig, config_id, "plugin config", WRITE)
    body = load(BackfillIn(), json_body())
    if "form.submitted" not in cfg.trigger_events:
        raise APIError(409, "conflict", "This integration does not run on new submissions (form.submitted).")
    if not cfg.enabled:
        raise APIError(409, "conflict", "This integration is disabled; enable it first.")
    params = {"config_id": str(cfg.id), "form_id": cfg.form_id, "resend": body["resend"], **_window(body)}
    return start_operation("backfill", cfg.workspace_id, params, body["preview"], [str(cfg.id)])


@bp.post("/replays")
def replay():
    """Send again every job matching a filter: statuses, integration or form, chosen submissions (at most
    100), and a time range."""
    body = load(ReplayIn(), json_body())
    if body.get("config_id"):
        owner = scoped_or_404(PluginConfig, body["config_id"], "plugin config", WRITE)
    elif body.get("form_id"):
        owner = scoped_or_404(Form, body["form_id"], "form", WRITE)
    else:
        owner = None
    workspace_id = owner.workspace_id if owner is not None else body.get("workspace_id")
    if workspace_id is None:
        raise invalid({"workspace_id": ["Name a workspace, form or integration."]})
    check_workspace(workspace_id, "workspace", WRITE)
    params = {
        "workspace_id": workspace_id,
        "statuses": body["statuses"],
        "config_id": body.get("config_id"),
        "form_id": body.get("form_id"),
        **({"submission_ids": body["submission_ids"]} if body.get("submission_ids") else {}),
        **_window(body),
    }
    return start_operation("replay", workspace_id, params, body["preview"], _integrations(owner, workspace_id))


def _integrations(owner: PluginConfig | Form | None, workspace_id: str) -> list[str]:
    """The ids of the integrations a replay scoped to ``owner`` (or the whole workspace) may send to."""
    if isinstance(owner, PluginConfig):
        return [str(owner.id)]
    scope = {"form_id": str(owner.id)} if owner is not None else {"workspace_id": workspace_id}
    return [str(c["_id"]) for c in PluginConfig._get_collection().find(scope, {"_id": 1})]


@bp.get("/operations")
def list_operations():
    return jsonify(paginate(Operation.objects(**visible()), Operation.to_dict))


@bp.get("/operations/<op_id>")
def get_operation(op_id: str):
    return jsonify(scoped_or_404(Operation, op_id, "operation").to_dict())


@bp.post("/operations/<op_id>/cancel")
def cancel_operation(op_id: str):
    op = scoped_or_404(Operation, op_id, "operation", WRITE)
    if not operations.cancel(op.id):
        raise APIError(
            409, "conflict", f"Only a running operation can be cancelled; this one is {op.reload().status}."
        )
    return jsonify(op.reload().to_dict())
