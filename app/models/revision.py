"""Earlier revisions of submissions, kept outside the submission's document.

An edit stores the revision it replaces here, so the submission's document holds one revision whatever its
history and an edit costs the same. Per submission at most ``MAX_KEPT`` earlier revisions and
``MAX_KEPT_BYTES`` of their data are kept: the oldest are dropped first (the one just replaced is always
kept). Documents written before this kept their revisions in a ``history`` list: they are read from there
too, and an edit moves them here (those within the limits) and removes the list.
"""

from __future__ import annotations

from typing import Any

import bson
from mongoengine import DateTimeField, DictField, Document, IntField, StringField
from pymongo.errors import BulkWriteError

from app.models.common import as_datetime, isoformat
from app.store import DUPLICATE_KEY

MAX_KEPT = 20  # earlier revisions kept per submission
MAX_KEPT_BYTES = 4 * 1024 * 1024  # their data, stored, per submission


class SubmissionRevision(Document):
    submission_id = StringField(required=True)
    form_id = StringField(required=True)
    revision = IntField(required=True)
    data = DictField()
    size = IntField(required=True)  # bytes of ``data`` as stored
    updated_at = DateTimeField()  # when this revision was written (the next one replaced it)

    meta = {
        "collection": "submission_revisions",
        "indexes": [
            {"fields": ["submission_id", "-revision"], "unique": True},
            "form_id",
        ],
    }


def data_size(data: dict[str, Any]) -> int:
    """Bytes ``data`` takes in a stored document."""
    return len(bson.encode({"data": data}))


def keep(submission: Any) -> None:
    """Store ``submission``'s current revision (a ``Submission``), and what its legacy ``history`` holds
    within the limits, before an edit replaces it. Safe to repeat: a revision is stored once."""
    entries = [
        {"revision": submission.revision, "data": submission.data, "updated_at": submission.updated_at},
        *reversed(submission.history or []),
    ]
    docs: list[dict[str, Any]] = []
    total = 0
    for entry in entries:  # newest first
        size = data_size(entry.get("data") or {})
        total += size
        if docs and (len(docs) >= MAX_KEPT or total > MAX_KEPT_BYTES):
            break
        docs.append(
            {
                "submission_id": str(submission.id),
                "form_id": submission.form_id,
                "revision": entry["revision"],
                "data": entry.get("data") or {},
                "size": size,
                "updated_at": as_datetime(entry.get("updated_at")),
            }
        )
    try:
        SubmissionRevision._get_collection().insert_many(docs, ordered=False)
    except BulkWriteError as exc:  # stored already (an edit that lost a race, or was retried)
        if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
            raise


def trim(submission_id: str) -> None:
    """Drop a submission's oldest kept revisions beyond the limits (the newest is always kept)."""
    coll = SubmissionRevision._get_collection()
    rows = coll.find({"submission_id": submission_id}, {"size": 1}).sort("revision", -1)
    drop, total = [], 0
    for count, row in enumerate(rows, start=1):
        total += row.get("size") or 0
        if count > 1 and (count > MAX_KEPT or total > MAX_KEPT_BYTES):
            drop.append(row["_id"])
    if drop:
        coll.delete_many({"_id": {"$in": drop}})


def earlier(submission: Any) -> list[dict[str, Any]]:
    """The revisions edits replaced, newest first: ``{"revision", "data", "updated_at"}`` (ISO time)."""
    found = (
        SubmissionRevision._get_collection()
        .find(
            {"submission_id": str(submission.id), "revision": {"$lt": submission.revision}},
            {"revision": 1, "data": 1, "updated_at": 1},
        )
        .sort("revision", -1)
        .limit(MAX_KEPT)
    )
    by_revision = {row["revision"]: row for row in found}
    for entry in submission.history or []:  # a document from before revisions moved out
        by_revision.setdefault(entry["revision"], entry)
    return [
        {
            "revision": rev,
            "data": by_revision[rev].get("data") or {},
            "updated_at": isoformat(by_revision[rev].get("updated_at")),
        }
        for rev in sorted(by_revision, reverse=True)
    ]
