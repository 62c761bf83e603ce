"""DataRemoval: the record of one removal of data (a retention pass, a purge, an erasure): who, when, what, how
many. An erasure's record holds the identifier masked (``z***@example.com``), never in clear."""

from __future__ import annotations

from mongoengine import BooleanField, DateTimeField, Document, IntField, StringField

from app.models.common import isoformat, utcnow

KINDS = ("retention", "purge", "erasure", "form_deletion")


class DataRemoval(Document):
    kind = StringField(required=True, choices=KINDS)
    workspace_id = StringField(null=True)
    form_id = StringField(null=True)  # (an erasure covers the workspace's forms)
    by = StringField(null=True)  # the user's id; None: the instance itself (retention)
    by_email = StringField(null=True)
    identifier = StringField(null=True)  # an erasure's, masked
    operation_id = StringField(null=True)  # an erasure's background operation
    day = StringField(null=True)  # a retention record covers one form's passes of one UTC day
    detail = StringField(null=True)
    submissions = IntField(default=0)
    revisions = IntField(default=0)
    postings = IntField(default=0)
    jobs = IntField(default=0)
    logs = IntField(default=0)
    kept = IntField(default=0)  # matched but left (a delivery still waiting or running)
    remaining = BooleanField(default=False)  # a deleted form's: data still to remove (engine.retention)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    meta = {"collection": "data_removals", "indexes": ["workspace_id", "form_id", "operation_id"]}

    def to_dict(self) -> dict:
        return {
            "id": str(self.id),
            "kind": self.kind,
            "workspace_id": self.workspace_id,
            "form_id": self.form_id,
            "by": self.by,
            "by_email": self.by_email,
            "identifier": self.identifier,
            "operation_id": self.operation_id,
            "detail": self.detail,
            "submissions": self.submissions,
            "revisions": self.revisions,
            "postings": self.postings,
            "jobs": self.jobs,
            "logs": self.logs,
            "kept": self.kept,
            "remaining": self.remaining,
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
        }
