"""Idempotency-Key records of the public intake (kept 24 h)."""

from __future__ import annotations

import time

from mongoengine import DateTimeField, DictField, Document, FloatField, StringField

TTL = 24 * 3600  # seconds a key is remembered


class IdempotencyKey(Document):
    # "<form id>:<client key>"
    id = StringField(primary_key=True)
    body_hash = StringField(required=True)
    submission_id = StringField(required=True)
    response = DictField(null=True)
    created_at = FloatField(required=True)  # epoch seconds
    expire_at = DateTimeField()  # for MongoDB's TTL monitor; reads also check created_at

    meta = {
        "collection": "idempotency_keys",
        "indexes": [{"fields": ["expire_at"], "expireAfterSeconds": 0}, "submission_id"],  # (removals)
    }


def purge_expired() -> int:
    """Delete records past their 24 h (MongoDB's TTL index does it too; nx-27017 may not)."""
    return (
        IdempotencyKey._get_collection().delete_many({"created_at": {"$lt": time.time() - TTL}}).deleted_count
    )
