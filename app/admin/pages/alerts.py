"""Failure alerts: what was raised and where it went, and each owned workspace's alert settings."""

from __future__ import annotations

from flask import render_template

from app.admin import access, bp
from app.admin.pages.operations import integrations_of
from app.auth import visible_workspace_ids
from app.engine.alert_delivery import settings_of
from app.models import Alert

LIMIT = 100


@bp.get("/alerts")
def alerts():
    workspaces = visible_workspace_ids()
    raised = Alert.objects(workspace_id__in=workspaces).order_by("-created_at").limit(LIMIT)
    configs = integrations_of(workspaces)
    owned = [
        (place, settings_of(place.id), [c for c in configs.values() if c.workspace_id == place.id])
        for place in access.places()
        if place.is_owner
    ]
    return render_template("admin/alerts.html", alerts=list(raised), configs=configs, owned=owned)
