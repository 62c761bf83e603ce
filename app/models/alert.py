"""Failure alerts: what was raised and where it went, each workspace's alert settings, per-integration cool-downs."""

from __future__ import annotations

from mongoengine import BooleanField, DateTimeField, DictField, Document, FloatField, ListField, StringField

from app.models.common import isoformat, utcnow


class Alert(Document):
    workspace_id = StringField(null=True)
    config_id = StringField(null=True)  # None for a digest
    kind = StringField(required=True)  # circuit_open | disabled | failure_rate | digest
    title = StringField(required=True)
    message = StringField(required=True)
    link = StringField(null=True)
    # One alert per incident: a second process finding the same incident hits this unique key.
    dedup_key = StringField(required=True, unique=True)
    deliveries = ListField(DictField())  # [{"channel": "email"|"integration", "status", "detail"}]
    created_at = DateTimeField(default=utcnow)
    # Someone saw it and is on it (who: their id, and their name as it was then).
    acknowledged_at = DateTimeField(null=True)
    acknowledged_by = StringField(null=True)
    acknowledged_by_name = StringField(null=True)
    # The integration delivers again, or was switched back on (app/engine/alert_resolution.py); a digest
    # is never resolved.
    resolved_at = DateTimeField(null=True)

    meta = {"collection": "alerts", "indexes": ["workspace_id", "config_id"]}

    @property
    def state(self) -> str:
        """"resolved", "acknowledged" or "open" (a digest: "digest")."""
        if self.kind == "digest":
            return "digest"
        if self.resolved_at is not None:
            return "resolved"
        return "acknowledged" if self.acknowledged_at is not None else "open"

    def to_dict(self) -> dict:
        return {
            "id": str(self.id),
            "workspace_id": self.workspace_id,
            "config_id": self.config_id,
            "kind": self.kind,
            "title": self.title,
            "message": self.message,
            "link": self.link,
            "deliveries": list(self.deliveries),
            "created_at": isoformat(self.created_at),
            "state": self.state,
            "acknowledged": (
                {
                    "at": isoformat(self.acknowledged_at),
                    "by": {"id": self.acknowledged_by, "name": self.acknowledged_by_name},
                }
                if self.acknowledged_at is not None
                else None
            ),
            "resolved_at": isoformat(self.resolved_at),
        }


class AlertSettings(Document):
    """Where a workspace's alerts go. Owners get e-mail by default (when the instance can send it)."""

    workspace_id = StringField(required=True, unique=True)
    email = BooleanField(default=True)
    channel_config_id = StringField(null=True)  # an integration of the workspace that also gets alerts
    digest = BooleanField(default=False)  # a daily e-mail of the integrations that failed
    digest_sent_at = FloatField(default=0.0)  # epoch seconds

    meta = {"collection": "alert_settings"}

    def to_dict(self) -> dict:
        return {
            "workspace_id": self.workspace_id,
            "email": self.email,
            "channel_config_id": self.channel_config_id,
            "digest": self.digest,
        }


class AlertCooldown(Document):
    """Until when an integration raises no new alert (the atomic gate that makes an outage one alert)."""

    config_id = StringField(primary_key=True)
    until = FloatField(default=0.0)  # epoch seconds

    meta = {"collection": "alert_cooldowns"}
