"""Alerts that end by themselves: an incident is resolved once its integration recovers.

- "keeps failing" (circuit_open): its circuit closed again (it closes on a delivered attempt) and it is on;
- "was disabled": it was switched back on (and its circuit is closed);
- "is failing often" (failure_rate): the latest attempt since the alert was delivered;
- an alert whose integration was deleted is resolved with it.

A daily digest is a report, not an incident: it has no resolved state.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from app.engine.circuit import is_closed
from app.models import Alert, PluginConfig, PluginExecutionLog, as_datetime, utcnow

BATCH = 500  # open alerts looked at per pass, newest first (older ones are looked at once these resolve)


def resolve_recovered() -> int:
    """Mark the open alerts whose integration recovered as resolved; returns how many."""
    alerts = Alert._get_collection()
    open_ = list(
        alerts.find(
            {"resolved_at": None, "config_id": {"$ne": None}, "kind": {"$ne": "digest"}},
            {"config_id": 1, "kind": 1, "created_at": 1},
            sort=[("_id", -1)],
            limit=BATCH,
        )
    )
    if not open_:
        return 0
    ids = {a["config_id"] for a in open_ if ObjectId.is_valid(a["config_id"])}
    configs = {
        str(c["_id"]): c
        for c in PluginConfig._get_collection().find(
            {"_id": {"$in": [ObjectId(i) for i in ids]}}, {"enabled": 1, "circuit": 1}
        )
    }
    resolved = 0
    for alert in open_:
        if _recovered(alert, configs.get(alert["config_id"])):
            done = alerts.update_one({"_id": alert["_id"], "resolved_at": None}, {"$set": {"resolved_at": utcnow()}})
            resolved += done.modified_count
    return resolved


def _recovered(alert: dict[str, Any], cfg: dict[str, Any] | None) -> bool:
    if cfg is None:
        return True  # the integration is gone, and its incident with it
    if not cfg.get("enabled", True) or not is_closed(cfg):
        return False
    if alert.get("kind") != "failure_rate":
        return True
    latest = PluginExecutionLog._get_collection().find_one(  # (along (config_id, executed_at): the time is
        {"config_id": {"$eq": alert["config_id"]}},  # compared here, beside the equality it is a walk)
        {"status": 1, "executed_at": 1},
        sort=[("executed_at", -1)],
    )
    if latest is None or (moment := as_datetime(latest.get("executed_at"))) is None:
        return False
    return moment > as_datetime(alert["created_at"]) and latest.get("status") == "success"
