"""``Idempotency-Key`` on the public intake: the same key within 24 h returns the first response and
creates nothing new; the same key with a different body is 422.

The record is written before the submission and names the submission id in advance, so a request that
died half-way is finished by its retry instead of creating a second submission.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from pymongo.errors import DuplicateKeyError

from app.errors import APIError
from app.models import utcnow
from app.models.idempotency import TTL, IdempotencyKey

ABANDONED_AFTER = 30.0  # a first request still unanswered after this long died


@dataclass
class Claim:
    record_id: str
    submission_id: str
    replay: dict[str, Any] | None = None  # the first response, when this is a repeat


def _hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def begin(form_id: str, key: str, body: Any, new_submission_id: str) -> Claim:
    """Claim ``key`` for this form, or find the earlier request that claimed it."""
    if not 1 <= len(key) <= 255:
        raise APIError(400, "bad_request", "Idempotency-Key must be 1 to 255 characters.")
    coll = IdempotencyKey._get_collection()
    record_id, body_hash, now = f"{form_id}:{key}", _hash(body), time.time()
    doc = {
        "_id": record_id,
        "body_hash": body_hash,
        "submission_id": new_submission_id,
        "response": None,
        "created_at": now,
        "expire_at": utcnow() + dt.timedelta(seconds=TTL),
    }
    try:
        coll.insert_one(doc)
        return Claim(record_id, new_submission_id)
    except DuplicateKeyError:
        pass
    found = coll.find_one({"_id": record_id})
    if found is None or found["created_at"] < now - TTL:  # expired: the key is free again
        coll.replace_one({"_id": record_id}, doc, upsert=True)
        return Claim(record_id, new_submission_id)
    if found["body_hash"] != body_hash:
        raise APIError(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was used with a different body.",
            {"idempotency_key": key},
        )
    if found.get("response"):
        return Claim(record_id, found["submission_id"], replay=found["response"])
    if found["created_at"] > now - ABANDONED_AFTER:
        raise APIError(409, "in_progress", "A request with this Idempotency-Key is still being processed.")
    return Claim(record_id, found["submission_id"])  # the first request died: finish its work


def finish(claim: Claim, response: dict[str, Any]) -> None:
    IdempotencyKey._get_collection().update_one({"_id": claim.record_id}, {"$set": {"response": response}})


def abandon(claim: Claim) -> None:
    """Forget a claim whose request failed before anything was accepted."""
    IdempotencyKey._get_collection().delete_one({"_id": claim.record_id, "response": None})
