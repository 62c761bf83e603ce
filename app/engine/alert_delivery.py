"""Where alerts go: e-mail to the workspace's owners, and the integration chosen as its alert channel.

The channel gets an ``integration.alert`` job like any other delivery (durable, retried, logged), whose
``data`` holds the alert. The daily digest (opt-in per workspace) lists the integrations that failed.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from bson import ObjectId

from app.engine.dispatch import insert_jobs
from app.engine.jobs import new_job
from app.mailer import MailError, configured, send_mail
from app.models import (
    Alert,
    AlertSettings,
    Form,
    Membership,
    PluginConfig,
    PluginExecutionLog,
    PluginJob,
    Role,
    User,
    Workflow,
    isoformat,
    parse_object_id,
    utcnow,
)
from app.models.newest import rows_since
from app.plain_text import one_line
from app.public_address import public_url

log = logging.getLogger(__name__)
ALERT_EVENT = "integration.alert"
DAY = 86400.0
FIELDS = {"config_id": 1, "status": 1}  # of the day's execution logs, for the digest


def settings_of(workspace_id: str | None) -> AlertSettings:
    """The workspace's alert settings (defaults when it never changed them)."""
    found = AlertSettings.objects(workspace_id=workspace_id).first() if workspace_id else None
    return found or AlertSettings(workspace_id=workspace_id or "")


def owner_emails(workspace_id: str | None) -> list[str]:
    owners = [m.user_id for m in Membership.objects(workspace_id=workspace_id, role=Role.OWNER.value)]
    ids = [ObjectId(u) for u in owners]
    return sorted(u.email for u in User.objects(id__in=ids, active=True))


def last_failure(settings: Mapping[str, Any], config_id: str) -> str | None:
    """The integration's latest failed attempt in the instance's own words: how it ended, the HTTP status
    the destination answered (a number: never its text, which anyone running the destination writes), when,
    and a link to the attempt's log."""
    rows = (
        PluginExecutionLog._get_collection()
        .find(
            {"config_id": {"$eq": config_id}, "status": {"$in": ["failed", "timeout"]}},
            {"status": 1, "response": 1, "executed_at": 1, "job_id": 1, "attempt": 1},
        )
        .sort("executed_at", -1)
        .limit(1)
    )
    row = next(iter(rows), None)
    if row is None:
        return None
    code = (row.get("response") or {}).get("status_code")
    how = "timed out" if row.get("status") == "timeout" else "failed"
    if isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599:
        how += f" with HTTP {code}"
    attempt = row.get("attempt")
    text = f"attempt {attempt} {how}" if isinstance(attempt, int) else f"an attempt {how}"
    text += f" at {isoformat(row.get('executed_at'))}"
    job_id = row.get("job_id")
    if isinstance(job_id, str) and ObjectId.is_valid(job_id):
        text += f"; its log: {public_url(settings)}/admin/jobs/{job_id}"
    return text


def deliver(settings: Mapping[str, Any], alert: Alert, cfg: dict[str, Any] | None) -> None:
    """Send an alert through the workspace's channels and record how each went on the alert."""
    chosen = settings_of(alert.workspace_id)
    deliveries = []
    if chosen.email:
        deliveries.append(_email(settings, alert))
    if chosen.channel_config_id and chosen.channel_config_id != alert.config_id:
        deliveries.append(_to_channel(settings, alert, chosen.channel_config_id))
    Alert._get_collection().update_one({"_id": alert.id}, {"$set": {"deliveries": deliveries}})
    alert.deliveries = deliveries


def _email(settings: Mapping[str, Any], alert: Alert) -> dict[str, Any]:
    if not configured(settings):
        return {"channel": "email", "status": "skipped", "detail": "The instance has no SMTP_URL."}
    to = owner_emails(alert.workspace_id)
    if not to:
        return {"channel": "email", "status": "skipped", "detail": "The workspace has no owner."}
    try:
        send_mail(settings, to, f"[Formhooks] {alert.title}", alert.message)
    except MailError as exc:
        log.warning("alert e-mail failed: %s", exc)
        return {"channel": "email", "status": "failed", "detail": str(exc)}
    return {"channel": "email", "status": "sent", "detail": f"to {len(to)} owner(s)"}


def _to_channel(settings: Mapping[str, Any], alert: Alert, channel_id: str) -> dict[str, Any]:
    channel = PluginConfig._get_collection().find_one({"_id": ObjectId(channel_id), "enabled": True})
    form = Form._get_collection().find_one({"_id": ObjectId(channel["form_id"])}) if channel else None
    if channel is None or form is None or channel.get("workspace_id") != alert.workspace_id:
        return {"channel": "integration", "status": "skipped", "detail": "The alert channel is gone or off."}
    payload = {
        "event": ALERT_EVENT,
        "form": {"id": str(form["_id"]), "name": form["name"], "fields": []},
        "submission": None,
        "data": {"alert": alert.title, "message": alert.message, "link": alert.link, "kind": alert.kind},
        "occurred_at": isoformat(utcnow()),
    }
    doc = new_job(
        channel,
        form,
        None,
        ALERT_EVENT,
        payload,
        f"alert:{alert.id}:{channel_id}",
        int(settings["MAX_ATTEMPTS"]),
    )
    insert_jobs(PluginJob._get_collection(), [doc])
    return {"channel": "integration", "status": "queued", "detail": str(doc["_id"])}


def send_digests(settings: Mapping[str, Any], now: float | None = None) -> int:
    """Send each opted-in workspace its daily digest when a day has passed since the last; returns how many."""
    now = time.time() if now is None else now
    sent = 0
    for chosen in AlertSettings.objects(digest=True, digest_sent_at__lt=now - DAY):
        taken = AlertSettings._get_collection().update_one(
            {"_id": chosen.id, "digest_sent_at": chosen.digest_sent_at}, {"$set": {"digest_sent_at": now}}
        )
        if taken.modified_count:  # this process sends it; another one lost the race
            sent += _digest(settings, chosen.workspace_id, now)
    return sent


def digest_lines(settings: Mapping[str, Any], workspace_id: str, now: float) -> list[str]:
    """One line per integration of the workspace that failed in the past day, most failures first."""
    since = dt.datetime.fromtimestamp(now - DAY, dt.UTC).replace(tzinfo=None)
    day = rows_since(
        PluginExecutionLog._get_collection(), ("workspace_id", workspace_id), "executed_at", since, FIELDS
    )
    failures = Counter(row["config_id"] for row in day if row.get("status") in ("failed", "timeout"))
    names = {
        str(c["_id"]): c["name"]
        for c in PluginConfig._get_collection().find(
            {"_id": {"$in": [ObjectId(i) for i in failures if ObjectId.is_valid(i)]}}, {"name": 1}
        )
    }
    names.update(_workflow_names(workspace_id, [cid for cid in failures if cid not in names]))
    return [
        f"- {one_line(names.get(cid, 'a deleted integration'))}: {count} failed attempt(s); last: "
        f"{last_failure(settings, cid)}"
        for cid, count in failures.most_common()
    ]


def _workflow_names(workspace_id: str, ids: list[str]) -> dict[str, str]:
    """How the digest names the workflow steps among ``ids`` (a step's jobs carry ``<workflow id>:<step
    name>`` as their config, engine.jobs.step_key): ``workflow 'Daily leads', step mail``."""
    steps = {cid: cid.partition(":") for cid in ids if ":" in cid}
    oids = [oid for oid in (parse_object_id(wid) for wid, _, _ in steps.values()) if oid is not None]
    query = {"_id": {"$in": oids}, "workspace_id": workspace_id}
    found = {str(w["_id"]): w.get("name") for w in Workflow._get_collection().find(query, {"name": 1})}
    return {cid: f"workflow {found[wid]!r}, step {name}" for cid, (wid, _, name) in steps.items() if wid in found}


def _digest(settings: Mapping[str, Any], workspace_id: str, now: float) -> int:
    lines = digest_lines(settings, workspace_id, now)
    if not lines:
        return 0
    alert = Alert(
        workspace_id=workspace_id,
        kind="digest",
        title=f"Daily digest: {len(lines)} integration(s) failed",
        message="Integrations with failed attempts in the past 24 hours:\n" + "\n".join(lines),
        link=f"{public_url(settings)}/admin/executions?status=failed",
        dedup_key=f"{workspace_id}:digest:{int(now)}",
    ).save()
    Alert._get_collection().update_one({"_id": alert.id}, {"$set": {"deliveries": [_email(settings, alert)]}})
    return 1
