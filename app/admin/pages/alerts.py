"""Failure alerts: what failed, when, and where to look, with their state (open, acknowledged by whom,
resolved once the integration recovered), and each owned workspace's alert settings."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import render_template

from app.admin import access, bp
from app.admin.pages.operations import integrations_of
from app.auth import visible_workspace_ids
from app.engine.alert_delivery import settings_of
from app.models import Alert

LIMIT = 100
LOG_LINK = re.compile(r"/admin/jobs/([0-9a-f]{24})$")
KINDS = {
    "circuit_open": "Keeps failing",
    "disabled": "Switched off",
    "failure_rate": "Failing often",
    "digest": "Daily digest",
}


@dataclass
class Entry:
    """An alert as the page reads it: its text without the mail's footer, and the last failure apart."""

    alert: Alert
    text: str
    last_failure: str
    log_job_id: str  # the job whose log holds the last failure ("" if unknown)
    can_acknowledge: bool


def entry(alert: Alert, can_acknowledge: bool) -> Entry:
    """The mail's parts (see app/engine/alerts.py); its links are the page's own (never its PUBLIC_URL)."""
    text, failure, job_id = [], "", ""
    for line in alert.message.splitlines():
        if line.startswith("Last failure:"):
            failure = line.removeprefix("Last failure:").strip()
            failure, _, log = failure.partition("; its log: ")
            job_id = match[1] if (match := LOG_LINK.search(log)) else ""
        elif not line.startswith("Fix it:") and line.strip():
            text.append(line.strip())
    failure = "" if failure == "(none recorded)" else failure
    return Entry(alert, " ".join(text), failure, job_id, can_acknowledge)


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
    editable = {w: access.can_edit(w) for w in workspaces}
    entries = [entry(a, editable.get(a.workspace_id, False)) for a in raised]
    return render_template("admin/alerts.html", entries=entries, configs=configs, owned=owned, kinds=KINDS)
