"""Forms and their submissions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from mongoengine import (
    BooleanField,
    DateTimeField,
    DictField,
    Document,
    EmbeddedDocument,
    EmbeddedDocumentListField,
    IntField,
    ListField,
    StringField,
)

from app.models.common import isoformat, utcnow
from app.models.search_terms import search_fields

FIELD_TYPES = ("text", "textarea", "email", "number", "select", "checkbox", "date", "url", "tel")


class FormField(EmbeddedDocument):
    name = StringField(required=True)
    label = StringField()
    type = StringField(default="text", choices=FIELD_TYPES)
    required = BooleanField(default=False)
    options = ListField(StringField())

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "label": self.label or self.name,
            "type": self.type,
            "required": self.required,
            "options": list(self.options),
        }


class Form(Document):
    name = StringField(required=True)
    workspace_id = StringField(null=True)
    # The public intake: on/off switch, and the origins a browser may post from (CORS; "*" for any).
    accepting_submissions = BooleanField(default=True)
    allowed_origins = ListField(StringField())
    fields = EmbeddedDocumentListField(FormField)
    retention_days = IntField(null=True)  # submissions older than this are removed (None: kept forever)
    revision = IntField(default=1)
    pending_events = ListField(DictField())
    dispatch_pending = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    meta = {
        "collection": "forms",
        "indexes": [
            "created_at",
            "dispatch_pending",
            "workspace_id",
            {"fields": ["retention_days"], "sparse": True},
        ],
    }

    def summary(self) -> dict:
        return {"id": str(self.id), "name": self.name}

    def to_dict(self) -> dict:
        return {
            "id": str(self.id),
            "name": self.name,
            "workspace_id": self.workspace_id,
            "accepting_submissions": self.accepting_submissions,
            "allowed_origins": list(self.allowed_origins),
            "fields": [f.to_dict() for f in self.fields],
            "retention_days": self.retention_days,
            "revision": self.revision,
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
        }


class Submission(Document):
    form_id = StringField(required=True)
    workspace_id = StringField(null=True)
    data = DictField()
    revision = IntField(default=1)
    deleted = BooleanField(default=False)
    # Earlier revisions live in submission_revisions (app/models/revision.py). Documents written before that
    # kept them here, oldest first ({"revision", "data", "updated_at"}): read, and moved out by their next edit.
    history = ListField(DictField())
    # Events written but whose jobs may not be yet: the sweep finishes them (see engine.dispatch).
    pending_events = ListField(DictField())
    dispatch_pending = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    sort_key = StringField(null=True)  # its place in the search index (app.models.search_terms)
    # Due for the indexer (1: postings and figures, 2: figures only) and what it counts for in the form's
    # figures (app.engine.indexer, app.models.figures).
    index_pending = IntField(null=True)
    figures_basis = DictField(null=True, default=None)
    figures_seq = IntField(null=True)

    meta = {
        "collection": "submissions",
        # (form_id, deleted, sort_key): the browser's pages, date ranges and index-completeness check
        "indexes": [
            "form_id",
            "dispatch_pending",
            "workspace_id",
            "created_at",
            {"fields": ["form_id", "deleted", "sort_key"]},
            {"fields": ["index_pending"], "sparse": True},
        ],
    }

    def to_dict(self) -> dict:
        return {
            "id": str(self.id),
            "form_id": self.form_id,
            "data": self.data,
            "revision": self.revision,
            "deleted": self.deleted,
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
        }


def new_submission(
    form_id: str, workspace_id: str | None, data: Mapping[str, Any], sub_id: ObjectId, now: dt.datetime
) -> dict[str, Any]:
    """A new submission's document as the intake stores it: revision 1, no pending event yet, its place in
    the search index (its postings are ``search_terms.postings`` of it)."""
    sub = {
        "_id": sub_id,
        "form_id": form_id,
        "workspace_id": workspace_id,
        "data": dict(data),
        "revision": 1,
        "deleted": False,
        "created_at": now,
        "updated_at": now,
        "pending_events": [],
        "dispatch_pending": False,
    }
    sub.update(search_fields(sub))
    return sub
