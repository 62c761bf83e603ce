"""Years of history in minutes: finished jobs and their logs written straight into the store."""

from __future__ import annotations

import datetime as dt
import random
import time

from bson import ObjectId

from app.models import PluginExecutionLog, PluginJob
from bench.store_raw import job_doc, log_doc, prepare

FINISHED = ("completed", "completed", "completed", "completed", "failed", "cancelled")


def seed_history(
    uri: str, db_name: str, count: int, form_id: str, config_ids: list[str], batch: int = 2000
) -> float:
    """Insert ``count`` finished jobs and one log row each (insert_many in batches), on the given form's
    configs, spread over the past year. Returns the seconds it took."""
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
                when = dt.datetime.fromtimestamp(now - rng.uniform(3600, 365 * 86400), dt.UTC).replace(
                    tzinfo=None
                )
                status = rng.choice(FINISHED)
                config_id = config_ids[i % len(config_ids)]
                job_id = ObjectId()
                job_batch.append(
                    job_doc(
                        i,
                        status=status,
                        _id=job_id,
                        config_id=config_id,
                        form_id=form_id,
                        attempts=1,
                        scheduled_for=when.replace(tzinfo=dt.UTC).timestamp(),
                        started_at=when,
                        completed_at=when,
                        created_at=when,
                        updated_at=when,
                        claim_token=None,
                        lease_owner=None,
                        lease_expires_at=None,
                        last_error=None if status == "completed" else "HTTP 500 from the destination",
                    )
                )
                log_batch.append(
                    log_doc(
                        job_id,
                        config_id=config_id,
                        form_id=form_id,
                        executed_at=when,
                        status="success" if status == "completed" else "failed",
                    )
                )
            jobs.insert_many(job_batch, ordered=False)
            logs.insert_many(log_batch, ordered=False)
        return time.perf_counter() - start
    finally:
        database.client.close()
