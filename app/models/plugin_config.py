"""An integration configured on a form: which plugin, its settings, and the events it listens to."""

from __future__ import annotations

from mongoengine import (
    BooleanField,
    DateTimeField,
    DictField,
    Document,
    IntField,
    ListField,
    StringField,
)

from app.models.common import isoformat, utcnow


class PluginConfig(Document):
    form_id = StringField(required=True)
    workspace_id = StringField(null=True)
    plugin_id = StringField(required=True)
    name = StringField(required=True)
    enabled = BooleanField(default=True)
    # Secret fields are stored encrypted (see app.security); never returned in clear.
    config = DictField()
    trigger_events = ListField(StringField(), default=lambda: ["form.submitted"])
    max_attempts = IntField(null=True)
    # Conditional trigger (app/engine/conditions.py); None runs for every event. Events it skipped are counted.
    conditions = DictField(null=True)
    skipped_events = IntField(default=0)
    conditions_over_budget = IntField(default=0)  # of those, events whose conditions ran past their CPU budget
    alerts_muted = BooleanField(default=False)  # no failure alerts for this integration
    disabled_reason = StringField(null=True)
    disabled_at = DateTimeField(null=True)
    # Circuit breaker state (app/engine/circuit.py); epoch-second times.
    circuit = DictField()
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    meta = {"collection": "plugin_configs", "indexes": ["form_id", "workspace_id"]}

    def to_dict(self, config: dict) -> dict:
        """The API shape; ``config`` is the already-masked settings."""
        return {
            "id": str(self.id),
            "form_id": self.form_id,
            "workspace_id": self.workspace_id,
            "plugin_id": self.plugin_id,
            "name": self.name,
            "enabled": self.enabled,
            "config": config,
            "trigger_events": list(self.trigger_events),
            "max_attempts": self.max_attempts,
            "conditions": self.conditions or None,
            "skipped_events": self.skipped_events or 0,
            "conditions_over_budget": self.conditions_over_budget or 0,
            "alerts_muted": bool(self.alerts_muted),
            "disabled_reason": self.disabled_reason,
            "disabled_at": isoformat(self.disabled_at),
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
        }
