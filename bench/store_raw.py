"""The store's raw rate for the minimal operations one job needs, in a tight pymongo loop.

One "raw job" = insert the job, claim it (update by _id where status is pending), insert its log row,
mark it complete (update by _id where status is running). The collections carry the app's own indexes
(as declared by the app's models), so each write pays what it pays in the app.
"""

from __future__ import annotations

import datetime as dt
import time

import pymongo
from bson import ObjectId

from app.models import PluginExecutionLog, PluginJob

PAYLOAD = {
    "event": "form.submitted",
    "form": {"id": "0" * 24, "name": "Bench", "fields": [{"name": "email", "label": "email"}]},
    "submission": {"id": "0" * 24, "revision": 1},
    "data": {"email": "person@example.com", "name": "Person", "message": "Hello from the bench " * 4},
    "occurred_at": "2025-01-01T00:00:00Z",
}


def job_doc(i: int, status: str = "pending", **extra) -> dict:
    """A job document shaped like the ones the app writes."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    job_id = extra.pop("_id", None) or ObjectId()
    return {
        "_id": job_id,
        "config_id": "c" * 24,
        "form_id": "f" * 24,
        "submission_id": f"{i:024x}",
        "plugin_id": "webhook",
        "event": "form.submitted",
        "status": status,
        "scheduled_for": time.time(),
        "attempts": 0,
        "max_attempts": 5,
        "payload": PAYLOAD,
        "dispatch_key": f"bench:{job_id}",
        "idempotency_key": f"msg_{job_id}",
        "created_at": now,
        "updated_at": now,
        **extra,
    }


def log_doc(job_id: ObjectId, **extra) -> dict:
    """A log row shaped like the ones the app writes."""
    return {
        "job_id": str(job_id),
        "config_id": "c" * 24,
        "form_id": "f" * 24,
        "plugin_id": "webhook",
        "attempt": 1,
        "event": "form.submitted",
        "status": "success",
        "executed_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
        "duration_ms": 3,
        "error_type": None,
        "error_message": None,
        "request": {"method": "POST", "url": "http://127.0.0.1/hook", "body_bytes": 420},
        "response": {"status_code": 200, "reason": "OK", "body_excerpt": '{"ok":true}', "elapsed_ms": 2},
        **extra,
    }


def prepare(uri: str, db_name: str) -> pymongo.database.Database:
    """A pymongo handle on ``db_name`` whose job and log collections carry the app's indexes (as its
    models declare them)."""
    database = pymongo.MongoClient(uri)[db_name]
    for model in (PluginJob, PluginExecutionLog):
        coll = database[model._meta["collection"]]
        for spec in model._meta["index_specs"]:
            options = {k: v for k, v in spec.items() if k != "fields"}
            coll.create_index(spec["fields"], **options)
    return database


def raw_job_rate(uri: str, db_name: str, count: int) -> float:
    """Raw jobs per second: ``count`` rounds of insert, claim, log, complete in one thread."""
    database = prepare(uri, db_name)
    jobs = database[PluginJob._meta["collection"]]
    logs = database[PluginExecutionLog._meta["collection"]]
    try:
        start = time.perf_counter()
        for i in range(count):
            doc = job_doc(i)
            jobs.insert_one(doc)
            claimed = jobs.update_one(
                {"_id": doc["_id"], "status": "pending"},
                {"$set": {"status": "running", "lease_expires_at": time.time() + 60, "claim_token": "t"}},
            )
            assert claimed.modified_count == 1
            logs.insert_one(log_doc(doc["_id"]))
            done = jobs.update_one(
                {"_id": doc["_id"], "status": "running"},
                {"$set": {"status": "completed", "lease_expires_at": None}},
            )
            assert done.modified_count == 1
        return count / (time.perf_counter() - start)
    finally:
        database.client.close()
