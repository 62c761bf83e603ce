"""Failure alerts in the API: the alerts raised, and each workspace's alert settings."""

from __future__ import annotations

from bson import ObjectId
from flask import jsonify

from app.api import bp
from app.api.schemas import AlertSettingsIn
from app.api.scope import WRITE, scoped_or_404, visible
from app.api.util import json_body, load, paginate
from app.auth import require_principal, require_role
from app.engine.alert_delivery import settings_of
from app.errors import invalid
from app.models import Alert, AlertSettings, PluginConfig, Role, utcnow


@bp.get("/alerts")
def list_alerts():
    """Alerts of your workspaces, newest first (filter with ``workspace_id``)."""
    return jsonify(paginate(Alert.objects(**visible()), Alert.to_dict))


@bp.post("/alerts/<alert_id>/acknowledge")
def acknowledge_alert(alert_id: str):
    """Say that someone is on it (editors and owners); the first acknowledgement is kept."""
    alert = scoped_or_404(Alert, alert_id, "alert", WRITE)
    user = require_principal().user
    Alert._get_collection().update_one(
        {"_id": alert.id, "acknowledged_at": None},
        {
            "$set": {
                "acknowledged_at": utcnow(),
                "acknowledged_by": str(user.id),
                "acknowledged_by_name": user.name or user.email,
            }
        },
    )
    return jsonify(alert.reload().to_dict())


@bp.get("/workspaces/<workspace_id>/alert-settings")
def get_alert_settings(workspace_id: str):
    require_role(workspace_id, Role.VIEWER, "workspace")
    return jsonify(settings_of(workspace_id).to_dict())


@bp.put("/workspaces/<workspace_id>/alert-settings")
def put_alert_settings(workspace_id: str):
    """Where the workspace's alerts go: owners' e-mail, an integration as the alert channel, a daily digest."""
    require_role(workspace_id, Role.OWNER, "workspace")
    body = load(AlertSettingsIn(), json_body())
    channel = body["channel_config_id"]
    if channel is not None:
        cfg = (
            PluginConfig.objects(id=ObjectId(channel), workspace_id=workspace_id).first()
            if ObjectId.is_valid(channel)
            else None
        )
        if cfg is None:
            raise invalid({"channel_config_id": ["Choose an integration of this workspace."]})
    AlertSettings._get_collection().update_one(
        {"workspace_id": workspace_id},
        {
            "$set": {"email": body["email"], "channel_config_id": channel, "digest": body["digest"]},
            "$setOnInsert": {"digest_sent_at": 0.0},
        },
        upsert=True,
    )
    return jsonify(settings_of(workspace_id).to_dict())
