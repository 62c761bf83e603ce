"""Backfills and replays: their progress (live), cancel, and the bulk-replay form. Writes go through the API."""

from __future__ import annotations

from flask import render_template

from app.admin import access, bp
from app.auth import visible_workspace_ids
from app.models import Operation, PluginConfig

LIMIT = 50


def integrations_of(workspace_ids: list[str]) -> dict[str, PluginConfig]:
    """The integrations of these workspaces, by id."""
    found = PluginConfig.objects(workspace_id__in=workspace_ids).only("id", "name", "form_id", "workspace_id")
    return {str(c.id): c for c in found.order_by("name")}


@bp.get("/operations")
def operations():
    workspaces = visible_workspace_ids()
    ops = (
        Operation.objects(workspace_id__in=workspaces, preview__ne=True).order_by("-created_at").limit(LIMIT)
    )
    configs = integrations_of(workspaces)
    replayable = [c for c in configs.values() if access.can_edit(c.workspace_id)]
    return render_template(
        "admin/operations.html", operations=list(ops), configs=configs, replayable=replayable
    )
