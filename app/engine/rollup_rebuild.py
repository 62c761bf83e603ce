"""``flask rebuild-rollups``: count the delivery and submission rollups (engine.rollups) again from the jobs,
the execution logs and the submissions, for data stored before the rollups existed or after a restore.

The rollups are emptied, then every job and submission is read once, ``batch`` documents a read in ``_id``
order (``app.chunks.id_pages``), and added up (one bulk write per batch). Jobs that settle while it runs may be
counted twice; run it while the instance is quiet for exact figures. Retries are counted from the jobs'
attempts (a job's last error stands for its attempts' errors).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bson import ObjectId, json_util

from app.chunks import id_pages
from app.engine import rollups
from app.engine.rollups import Settled
from app.models import JobStatus, PluginConfig, PluginExecutionLog, PluginJob, Submission, as_datetime

COMPLETED, FAILED, CANCELLED = JobStatus.COMPLETED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value
PENDING, RUNNING = JobStatus.PENDING.value, JobStatus.RUNNING.value


@dataclass
class Rebuilt:
    jobs: int = 0
    submissions: int = 0
    integrations: int = 0


def job_settles(job: dict[str, Any]) -> list[Settled]:
    """What the rollups count for ``job`` as stored now: its end, if it ended, and its spent retries."""
    if not job.get("config_id"):
        return []
    created = rollups.created_of(job)
    status, attempts = job.get("status"), int(job.get("attempts") or 0)
    end = as_datetime(job.get("completed_at")) or as_datetime(job.get("updated_at")) or created
    changed = as_datetime(job.get("updated_at")) or end

    found = []
    retries = attempts - 1 if status in (COMPLETED, FAILED, RUNNING) else attempts
    found += [
        rollups.settled_as(job, "retried", changed, job.get("last_error")) for _ in range(max(0, retries))
    ]
    if status in (COMPLETED, FAILED, CANCELLED):
        found.append(rollups.settled_as(job, status, end, job.get("last_error")))
    return found


def latest_logs() -> list[dict[str, Any]]:
    """Each integration's latest execution log (by ``executed_at``, then ``_id``) in two reads whatever the
    number of integrations: per integration its latest time and its last log written (one ``$group``, which
    both stores work out themselves), then those logs by id. A log written after a later one (its time is
    not the latest) is looked up on its own; ``$first`` after a ``$sort`` would go through every row one by
    one on nx-27017, and a document's ``$max`` is not served there."""
    logs = PluginExecutionLog._get_collection()
    fields = {"config_id": 1, "status": 1, "executed_at": 1, "error_message": 1, "job_id": 1, "attempt": 1}
    group = {"_id": "$config_id", "at": {"$max": "$executed_at"}, "last": {"$max": "$_id"}}
    latest = {row["_id"]: row for row in logs.aggregate([{"$group": group}]) if row["_id"]}
    ids = [_stored_id(row["last"]) for row in latest.values()]
    written_last = {row["config_id"]: row for row in logs.find({"_id": {"$in": ids}}, fields)} if ids else {}
    found = []
    for cid, row in latest.items():
        log_doc = written_last.get(cid)
        if log_doc is None or as_datetime(log_doc.get("executed_at")) != _stored_time(row.get("at")):
            log_doc = logs.find_one({"config_id": {"$eq": cid}}, fields, sort=[("executed_at", -1)])
        if log_doc is not None:
            log_doc["executed_at"] = as_datetime(log_doc.get("executed_at")) or log_doc["_id"].generation_time
            found.append(log_doc)
    return found


def _stored_time(value: Any) -> dt.datetime | None:
    """A time a ``$group`` gave back: nx-27017 answers a date's ``$max`` as extended JSON text."""
    if isinstance(value, str) and value.startswith("{"):
        value = json_util.loads(value)
    return as_datetime(value)


def _stored_id(value: Any) -> Any:
    """An id a ``$group`` gave back: nx-27017 answers an ObjectId's ``$max`` as its hex text."""
    return ObjectId(value) if isinstance(value, str) and ObjectId.is_valid(value) else value


def rebuild(batch: int = 5000, progress: Callable[[str, int], None] | None = None) -> Rebuilt:
    """Empty the rollups and count everything again (see the module's docstring)."""
    done = Rebuilt()
    coll, subs_coll = rollups.collection(), rollups.submissions_collection()
    coll.delete_many({})
    subs_coll.delete_many({})
    fields = {
        "config_id": 1,
        "form_id": 1,
        "workspace_id": 1,
        "status": 1,
        "attempts": 1,
        "created_at": 1,
        "completed_at": 1,
        "updated_at": 1,
        "last_error": 1,
    }
    for chunk in id_pages(PluginJob._get_collection(), fields, batch):
        ops = rollups.day_ops(s for job in chunk for s in job_settles(job))
        if ops:
            coll.bulk_write(ops, ordered=False)
        done.jobs += len(chunk)
        if progress:
            progress("jobs", done.jobs)
    for chunk in id_pages(Submission._get_collection(), {"form_id": 1, "workspace_id": 1, "created_at": 1}, batch):
        accepted = [
            (s["form_id"], s.get("workspace_id"), rollups.created_of(s)) for s in chunk if s.get("form_id")
        ]
        if accepted:
            subs_coll.bulk_write(rollups.submission_ops(accepted), ordered=False)
        done.submissions += len(chunk)
        if progress:
            progress("submissions", done.submissions)
    rollups.record((), latest_logs())
    done.integrations = PluginConfig._get_collection().count_documents({})
    rollups.meta_collection().update_one({"_id": "delivery"}, {"$set": {"counted_from": None}}, upsert=True)
    return done
