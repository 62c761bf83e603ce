"""Years of history in minutes: finished jobs and their logs written straight into the store."""

from __future__ import annotations

import datetime as dt
import random
import time
from typing import Any

from bson import ObjectId

from app.models import PluginExecutionLog, PluginJob
from bench.store_raw import log_doc, prepare

FINISHED = ("completed", "completed", "completed", "completed", "failed", "cancelled")


def finished_copy(template: dict[str, Any], when: dt.datetime, status: str) -> dict[str, Any]:
    """A finished job shaped exactly like ``template`` (a real job the app wrote), dated ``when``."""
    job_id = ObjectId()
    return {
        **template,
        "_id": job_id,
        "status": status,
        "attempts": 1,
        "scheduled_for": when.replace(tzinfo=dt.UTC).timestamp(),
        "started_at": when,
        "completed_at": when,
        "created_at": when,
        "updated_at": when,
        "claim_token": None,
        "lease_owner": None,
        "lease_expires_at": None,
        "last_error": None if status == "completed" else "HTTP 500 from the destination",
        "dispatch_key": f"history:{job_id}",
        "idempotency_key": f"msg_{job_id}",
    }


def seed_history(
    uri: str, db_name: str, count: int, templates: list[dict[str, Any]], batch: int = 2000
) -> float:
    """Insert ``count`` finished jobs copied in turn from ``templates`` (real jobs, e.g. one per config)
    and one log row each (insert_many in batches), spread over the past year. Returns the seconds taken."""
    database = prepare(uri, db_name)
    jobs = database[PluginJob._meta["collection"]]
    logs = database[PluginExecutionLog._meta["collection"]]
    rng = random.Random(7)
    now = time.time()
    start = time.perf_counter()
    try:
        for first in range(0, count, batch):
            job_batch, log_batch = [], []
            for i in range(first, min(count, first + batch)):
                ago = rng.uniform(3600, 365 * 86400)
                when = dt.datetime.fromtimestamp(now - ago, dt.UTC).replace(tzinfo=None)
                template = templates[i % len(templates)]
                job = finished_copy(template, when, rng.choice(FINISHED))
                same = {k: template[k] for k in ("config_id", "form_id", "workspace_id") if k in template}
                job_batch.append(job)
                ok = job["status"] == "completed"
                log_batch.append(
                    log_doc(job["_id"], **same, executed_at=when, status="success" if ok else "failed")
                )
            jobs.insert_many(job_batch, ordered=False)
            logs.insert_many(log_batch, ordered=False)
        return time.perf_counter() - start
    finally:
        database.client.close()
