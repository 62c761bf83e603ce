"""PluginJob: one event to deliver through one config. The job collection is the source of truth."""

from __future__ import annotations

import time
from enum import StrEnum

from mongoengine import DateTimeField, DictField, Document, FloatField, IntField, StringField

from app.models.common import isoformat, utcnow


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class PluginJob(Document):
    config_id = StringField(required=True)
    form_id = StringField(required=True)
    workspace_id = StringField(null=True)
    submission_id = StringField(null=True)
    plugin_id = StringField(required=True)
    event = StringField(required=True)
    status = StringField(default=JobStatus.PENDING, choices=[s.value for s in JobStatus])
    # Epoch seconds: compared and sorted by the store, so kept in a type both stores order alike.
    scheduled_for = FloatField(default=time.time)
    attempts = IntField(default=0)
    max_attempts = IntField(default=5)
    last_error = StringField(null=True)
    lease_owner = StringField(null=True)
    lease_expires_at = FloatField(null=True)  # epoch seconds
    # Fencing token of the current claim: a worker may only finish the job it still holds.
    claim_token = StringField(null=True)
    started_at = DateTimeField(null=True)
    completed_at = DateTimeField(null=True)
    payload = DictField()
    # Unique per (event occurrence, config): makes dispatch exactly-once even when re-run by the sweep.
    dispatch_key = StringField(required=True, unique=True)
    # Sent as the webhook-id header; stable across every attempt of this job.
    idempotency_key = StringField(required=True)
    # The backfill that created the job, or the replay that requeued it last (app/engine/operations.py).
    operation_id = StringField(null=True)
    # A workflow step (app/engine/workflow_runs.py): its run, its index there, and its config as rendered
    # for this run (secrets sealed); ``config_id`` is then the workflow's id.
    run_id = StringField(null=True)
    step = IntField(null=True)
    step_config = DictField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    meta = {
        "collection": "plugin_jobs",
        # nx-27017 serves single-field equality from an index; MongoDB uses the compound one.
        # References are stored as strings: nx-27017 cannot match ObjectId values outside _id.
        "indexes": [
            "status",
            ("status", "scheduled_for"),
            ("status", "config_id"),  # fair-share claims read one integration's pending jobs
            "config_id",
            "submission_id",
            "form_id",
            # newest first per workspace and per form (app.models.newest: the API's list, the executions page)
            ("workspace_id", "created_at"),
            ("form_id", "created_at"),
            {"fields": ["operation_id"], "sparse": True},
            # an operation's jobs in flight (engine.operations.inflight), one state at a time by equality
            {"fields": ["operation_id", "status"], "sparse": True},
            {"fields": ["run_id"], "sparse": True},
        ],
    }

    def to_dict(self) -> dict:
        return {
            "id": str(self.id),
            "config_id": self.config_id,
            "form_id": self.form_id,
            "workspace_id": self.workspace_id,
            "submission_id": self.submission_id,
            "plugin_id": self.plugin_id,
            "event": self.event,
            "status": self.status,
            "scheduled_for": isoformat(self.scheduled_for),
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "last_error": self.last_error,
            "idempotency_key": self.idempotency_key,
            "lease_owner": self.lease_owner,
            "lease_expires_at": isoformat(self.lease_expires_at),
            "started_at": isoformat(self.started_at),
            "completed_at": isoformat(self.completed_at),
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
            "payload": self.payload,
            "run_id": self.run_id,
            "step": self.step,
        }
