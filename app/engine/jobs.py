"""The one owner of job state: how a job changes state, from which states each change is allowed, and the
attempt budget. The API, the admin UI and the CLI call these functions; none of them writes job fields.

    (created) ─► pending ─claim─► running ─complete─► completed
                    ▲                │ ─fail────────► failed
                    │                │ ─cancel──────► cancelled (the integration is gone or off)
                    ├── retry, release, defer, reap ─┘
                    ├── resend, replay (completed, failed, cancelled)
                 pending ─cancel─► cancelled

Creation is ``engine.dispatch`` (an event) and ``engine.backfill`` (existing submissions); claims, renewals
and the fenced changes of a running job are ``engine.queue``; bulk replays are ``engine.replay``.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from app.engine.queue import cancel_pending, requeue
from app.engine.records import JobRecord
from app.models import JobStatus, PluginConfig, PluginJob, utcnow

PENDING, RUNNING = JobStatus.PENDING.value, JobStatus.RUNNING.value
FINISHED = (JobStatus.COMPLETED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value)

# transition -> the states a job may be in for it
ALLOWED: dict[str, tuple[str, ...]] = {
    "claim": (PENDING,),
    "complete": (RUNNING,),
    "fail": (RUNNING,),
    "retry": (RUNNING,),
    "release": (RUNNING,),
    "defer": (RUNNING,),
    "reap": (RUNNING,),
    "cancel": (PENDING,),
    "resend": FINISHED,
}


class JobStateError(Exception):
    """A change that the job's current state does not allow; the message says why, for people."""


def allowed(transition: str, status: str) -> bool:
    return status in ALLOWED[transition]


def out_of_attempts(job: JobRecord) -> bool:
    """The attempt budget: a job that has used ``max_attempts`` attempts gets no further one."""
    return int(job.get("attempts", 0)) >= int(job.get("max_attempts", 1))


def resend(job_id: ObjectId, extra_attempts: int) -> None:
    """Send a finished job again (a manual retry), with ``extra_attempts`` more attempts to spend."""
    job = PluginJob._get_collection().find_one(
        {"_id": job_id}, {"status": 1, "attempts": 1, "max_attempts": 1}
    )
    if job is None or not requeue(job, ALLOWED["resend"], extra_attempts):
        status = job["status"] if job else "gone"
        raise JobStateError(f"Only a finished job can be sent again; this one is {status}.")


def resend_failed(config_id: str, extra_attempts: int) -> int:
    """Send again every failed job of an integration; returns how many were requeued."""
    coll = PluginJob._get_collection()
    found = coll.find(
        {"config_id": config_id, "status": JobStatus.FAILED.value},
        {"status": 1, "attempts": 1, "max_attempts": 1},
    )
    return sum(requeue(job, (JobStatus.FAILED.value,), extra_attempts) for job in found)


def cancel(job_id: ObjectId, reason: str = "Cancelled by a user.") -> None:
    """Cancel a job that waits; a running one finishes its attempt first."""
    if not cancel_pending(reason, _id=job_id):
        job = PluginJob._get_collection().find_one({"_id": job_id}, {"status": 1})
        raise JobStateError(
            f"Only a pending job can be cancelled; this one is {job['status'] if job else 'gone'}."
        )


def cancel_waiting(reason: str, **match: Any) -> int:
    """Cancel every waiting job matching ``match`` (``config_id=``, ``form_id=``, ``operation_id=``)."""
    return cancel_pending(reason, **match)


def disable_integration(config_id: Any, reason: str) -> None:
    """Switch an integration off with the reason shown to its owners (its waiting jobs are then cancelled
    when claimed)."""
    PluginConfig._get_collection().update_one(
        {"_id": config_id if isinstance(config_id, ObjectId) else ObjectId(config_id)},
        {"$set": {"enabled": False, "disabled_reason": reason, "disabled_at": utcnow()}},
    )
