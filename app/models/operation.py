"""Operation: a tracked, durable bulk action (backfill, replay) that any process can resume after a crash."""

from __future__ import annotations

import time
from enum import StrEnum

from mongoengine import (
    BooleanField,
    DateTimeField,
    DictField,
    Document,
    DynamicField,
    FloatField,
    IntField,
    ListField,
    StringField,
)

from app.models.common import isoformat, utcnow


class OperationStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


class Operation(Document):
    workspace_id = StringField(null=True)
    kind = StringField(required=True)  # "backfill" | "replay" | "erasure"
    # What it works on: backfill {config_id, since, until, resend}; replay {statuses, config_id, form_id, ...}.
    params = DictField()
    config_ids = ListField(StringField())  # the integrations it may send to (one running operation each)
    resends = BooleanField(default=False)  # sends again what was sent (replay; backfill with resend)
    status = StringField(default=OperationStatus.RUNNING.value)
    preview = BooleanField(default=False)  # only count the items (total), then complete
    prepared = BooleanField(default=False)  # its items' ids are snapshotted and total is known
    total = IntField(default=0)
    done = IntField(default=0)
    created = IntField(default=0)  # jobs created (backfill) or requeued (replay)
    skipped = IntField(default=0)  # already had a job, or conditions did not match
    failures = IntField(default=0)
    error = StringField(null=True)
    lease_owner = StringField(null=True)
    lease_expires_at = FloatField(default=0.0)  # epoch seconds
    served_at = FloatField(default=0.0)  # epoch seconds of its last turn: turns go round the workspaces
    created_by = StringField(null=True)
    started_at = FloatField(default=time.time)  # epoch seconds, for the rate and ETA
    created_at = DateTimeField(default=utcnow)
    finished_at = DateTimeField(null=True)

    meta = {"collection": "operations", "indexes": ["status", "workspace_id"]}

    def eta_seconds(self, now: float | None = None) -> float | None:
        """Seconds left at the rate so far; None before there is a rate or once finished."""
        if self.status != OperationStatus.RUNNING.value or self.done <= 0 or not self.prepared:
            return None
        elapsed = max(1e-3, (now or time.time()) - self.started_at)
        return round(max(0, self.total - self.done) * elapsed / self.done, 1)

    def to_dict(self) -> dict:
        return {
            "id": str(self.id),
            "workspace_id": self.workspace_id,
            "kind": self.kind,
            # (not "recent": the cut-off's ids; never "private": what only the running operation holds)
            "params": {k: v for k, v in self.params.items() if k not in ("recent", "private")},
            "status": self.status,
            "preview": self.preview,
            "prepared": self.prepared,
            "total": self.total if self.prepared else None,
            "done": self.done,
            "created": self.created,
            "skipped": self.skipped,
            "failures": self.failures,
            "progress": round(self.done / self.total, 4) if self.total else (1.0 if self.prepared else 0.0),
            "eta_seconds": self.eta_seconds(),
            "error": self.error,
            "created_by": self.created_by,
            "created_at": isoformat(self.created_at),
            "finished_at": isoformat(self.finished_at),
        }


class OperationChunk(Document):
    """Ids of an operation's items, in order: chunk ``n`` of operation ``op_id`` has the id ``"<op_id>:<n>"``."""

    id = StringField(primary_key=True)
    op_id = StringField(required=True)
    ids = ListField(DynamicField())

    meta = {"collection": "operation_chunks", "indexes": ["op_id"]}
