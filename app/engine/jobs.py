"""The one owner of job state: every change of a job's status is built here, checked against the transition
table, and the attempt budget. Other modules apply what these functions build (the scheduler's claims, the
result writer's batches) or call the functions that apply it (the API, the admin UI, operations); none of
them writes a job's status (tests/engine/test_job_owner.py fails if one does).

    (create) ─► pending ─claim─► running ─complete─► completed
       │           ▲                │ ─fail, expire─► failed
       │           │                │ ─drop─────────► cancelled (the integration is gone or off)
       │           ├── retry, release, defer, reap ─┘
       │           ├── resend, replay (completed, failed, cancelled)
       │        pending ─cancel─► cancelled
       └─ claim_at_insert ─► running (written already claimed by the process that creates it)

The store writes of these changes go through ``apply`` and ``apply_all``; new jobs are written with the
submission (engine.dispatch). A change of a running job is fenced: it applies only while the claim that read it (its token) holds the
job, so a worker whose lease was reaped can no longer overwrite it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, cast

from bson import ObjectId
from pymongo import InsertOne, UpdateOne
from pymongo.errors import ClientBulkWriteException
from pymongo.results import BulkWriteResult

from app.chunks import chunks
from app.engine import rollups
from app.engine.records import JobRecord
from app.engine.rollups import Settled
from app.models import JobStatus, PluginConfig, PluginJob, Workflow, as_datetime, utcnow
from app.store import DUPLICATE_KEY

log = logging.getLogger(__name__)

PENDING, RUNNING = JobStatus.PENDING.value, JobStatus.RUNNING.value
COMPLETED, FAILED, CANCELLED = JobStatus.COMPLETED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value
FINISHED = (COMPLETED, FAILED, CANCELLED)


@dataclass(frozen=True)
class Transition:
    """A change of status: from one of ``sources`` (none: the job is being created) to ``target``."""

    sources: tuple[str, ...]
    target: str


TRANSITIONS: dict[str, Transition] = {
    "create": Transition((), PENDING),
    "claim_at_insert": Transition((PENDING,), RUNNING),  # a new job, before it is written
    "claim": Transition((PENDING,), RUNNING),
    "complete": Transition((RUNNING,), COMPLETED),
    "fail": Transition((RUNNING,), FAILED),
    "drop": Transition((RUNNING,), CANCELLED),  # claimed, but its integration is gone or off
    "retry": Transition((RUNNING,), PENDING),
    "release": Transition((RUNNING,), PENDING),  # attempt refunded: it never started
    "defer": Transition((RUNNING,), PENDING),  # attempt refunded: rate limit, open circuit
    "reap": Transition((RUNNING,), PENDING),  # its process died
    "expire": Transition((RUNNING,), FAILED),  # its process died during its last attempt
    "cancel": Transition((PENDING,), CANCELLED),
    "resend": Transition(FINISHED, PENDING),
    "replay": Transition(FINISHED, PENDING),
}
# transition -> the states a job may be in for it
ALLOWED: dict[str, tuple[str, ...]] = {name: t.sources for name, t in TRANSITIONS.items()}

REAPED = "The process running this job stopped; it was requeued."
EXPIRED = "The process running the last attempt stopped; the data may have been sent."


class JobStateError(Exception):
    """A change that the job's current state does not allow; the message says why, for people."""


@dataclass(frozen=True)
class Change:
    """One state change of a job (or of the jobs ``filter`` matches): applied now or batched (engine.writer).
    ``settles``: what the delivery rollups count for each job it moves (engine.rollups), if it applies."""

    filter: dict[str, Any]
    update: dict[str, Any]
    settles: tuple[Settled, ...] = ()

    def as_bulk(self) -> UpdateOne:
        return UpdateOne(self.filter, self.update)


def apply(change: Change, many: bool = False) -> int:
    """Write ``change`` (to every job it matches when ``many``); returns how many jobs it moved."""
    coll = PluginJob._get_collection()
    if many:
        moved = coll.update_many(change.filter, change.update).modified_count
    else:
        moved = coll.update_one(change.filter, change.update).modified_count
    if change.settles and moved:
        try:
            rollups.record(settled([change], moved, len(change.settles) if many else 1))
        except Exception:  # the change is written: a figure missed is not worth failing it for
            log.warning("counting %d settled job(s) in the rollups failed", moved, exc_info=True)
    return moved


def apply_all(changes: list[Change], attempts: Iterable[dict[str, Any]] = ()) -> BulkWriteResult:
    """Write ``changes`` in one unordered round trip (claims, a batch of attempts' results), then count
    the jobs they settled and the ``attempts`` (execution log rows) in the rollups in one more."""
    result = PluginJob._get_collection().bulk_write([c.as_bulk() for c in changes], ordered=False)
    rollups.record(settled(changes, result.modified_count, len(changes)), attempts)
    return result


def apply_all_with(
    changes: list[Change], attempts: list[dict[str, Any]], inserts: list[InsertOne]
) -> None:
    """``apply_all`` and ``inserts`` (namespaced: a batch's execution log rows) in one client-level
    bulkWrite, the rollups included: only on a store that writes one all or nothing (app.store.traits).

    The rollups count every settle as if its change applies; those of changes that moved no job are taken
    back in one more write: a claim lost meanwhile, or a retry of a command whose first send was written
    (it counted them then). Duplicate keys among ``inserts`` (a retry's) are not errors. One command
    instead of three per result batch (log rows, job changes, rollups): end to end 130 -> 177 submissions/s
    (bench.onoff, higher in 3 rounds of 3; with the indexer's change, 3 of 3 in one more run and 1 of 3 in
    another), a drain 337 -> 381 jobs/s and its store commands per job 0.89 -> 0.76 (bench/README.md, "End
    to end against intake + drain").
    """
    jobs_ns = PluginJob._get_collection().full_name
    counted = [s for c in changes for s in c.settles]
    rollup_ns = rollups.collection().full_name
    first = len(inserts)
    ops = [
        *inserts,
        *(UpdateOne(c.filter, c.update, namespace=jobs_ns) for c in changes),
        *rollups.day_ops(counted, rollup_ns),
        *rollups.latest_ops(attempts, rollup_ns),
    ]
    client = PluginJob._get_collection().database.client
    try:
        result = client.bulk_write(ops, ordered=False, verbose_results=True)
    except ClientBulkWriteException as exc:
        errors = cast(list[dict[str, Any]], exc.write_errors or [])  # (dicts, as the server sent them)
        dup_inserts_only = all(e.get("code") == DUPLICATE_KEY and e.get("idx", first) < first for e in errors)
        if exc.error is not None or exc.write_concern_errors or not dup_inserts_only or exc.partial_result is None:
            raise
        result = exc.partial_result
    moved = result.update_results
    missed = [c for i, c in enumerate(changes) if (r := moved.get(first + i)) is None or not r.modified_count]
    if taken_back := [replace(s, sign=-s.sign) for c in missed for s in c.settles]:
        try:
            rollups.record(taken_back)
        except Exception:  # the changes are written: a figure off is not worth failing them for
            log.warning("taking %d settles back from the rollups failed", len(taken_back), exc_info=True)


def settled(changes: list[Change], moved: int, expected: int) -> list[Settled]:
    """The ``settles`` of those of ``changes`` that took effect, given that the store moved ``moved`` of the
    ``expected`` jobs: all of them when it moved every one; else each job is read back (its status and
    ``updated_at`` as the change set them), which only happens when a claim was lost meanwhile or a write
    is retried."""
    counted = [s for c in changes for s in c.settles]
    if not counted or moved >= expected:
        return counted
    ids = [s.job_id for s in counted]
    now = {
        doc["_id"]: doc
        for doc in PluginJob._get_collection().find({"_id": {"$in": ids}}, {"status": 1, "updated_at": 1})
    }
    found = []
    for change in changes:
        target, stamp = change.update["$set"]["status"], change.update["$set"]["updated_at"]
        for s in change.settles:
            doc = now.get(s.job_id)
            if doc and doc.get("status") == target and _same_time(as_datetime(doc.get("updated_at")), stamp):
                found.append(s)
    return found


def _same_time(stored: dt.datetime | None, stamp: dt.datetime) -> bool:
    """``stored`` is ``stamp`` as the store keeps it (to the millisecond)."""
    return stored is not None and abs((stored - stamp).total_seconds()) < 0.001


def allowed(transition: str, status: str) -> bool:
    return status in ALLOWED[transition]


def out_of_attempts(job: JobRecord) -> bool:
    """The attempt budget: a job that has used ``max_attempts`` attempts gets no further one."""
    return int(job.get("attempts", 0)) >= int(job.get("max_attempts", 1))


def _change(
    transition: str,
    match: dict[str, Any],
    fields: dict[str, Any],
    stamp: dt.datetime | None = None,
    **ops: Any,
) -> Change:
    """The update making the jobs ``match`` selects take ``transition``: only those in one of its source
    states (the store refuses the others), set to its target with ``fields``; ``ops`` adds e.g. ``$inc``."""
    sources = ALLOWED[transition]
    status = sources[0] if len(sources) == 1 else {"$in": list(sources)}
    target = TRANSITIONS[transition].target
    return Change(
        {**match, "status": status},
        {"$set": {**fields, "status": target, "updated_at": stamp or utcnow()}, **ops},
    )


def _fenced(
    transition: str, job: JobRecord, fields: dict[str, Any], stamp: dt.datetime | None = None, **ops: Any
) -> Change:
    """``transition`` of a running job, only while this claim (its token) still holds it."""
    return _change(transition, {"_id": job["_id"], "claim_token": job["claim_token"]}, fields, stamp, **ops)


# -- create ------------------------------------------------------------------------------------------------


def new_job(
    config: dict,
    form: dict,
    submission: dict | None,
    event_name: str,
    payload: dict[str, Any],
    dispatch_key: str,
    max_attempts: int,
    **extra: Any,
) -> dict[str, Any]:
    """A new pending job of ``config`` for one event occurrence (``dispatch_key`` makes it unique)."""
    job_id, now = ObjectId(), utcnow()
    return {
        "_id": job_id,
        "config_id": str(config["_id"]),
        "form_id": str(form["_id"]),
        "workspace_id": form.get("workspace_id"),
        "submission_id": str(submission["_id"]) if submission is not None else None,
        "plugin_id": config["plugin_id"],
        "event": event_name,
        "status": TRANSITIONS["create"].target,
        "scheduled_for": time.time(),
        "attempts": 0,
        "max_attempts": config.get("max_attempts") or max_attempts,
        "payload": payload,
        "dispatch_key": dispatch_key,
        "idempotency_key": f"msg_{job_id}",
        "created_at": now,
        "updated_at": now,
        **extra,
    }


def step_job_id(run_id: Any, index: int) -> ObjectId:
    """The id of a workflow run's step job: the same wherever and however often it is planned."""
    return ObjectId(hashlib.sha256(f"run:{run_id}:{index}".encode()).digest()[:12])


def step_key(workflow_id: Any, step_name: str) -> str:
    """The ``config_id`` of a workflow step's jobs: the step's own key (its workflow and name) for what
    counts per integration (INTEGRATION_CONCURRENCY, fair share within a workspace, the circuit)."""
    return f"{workflow_id}:{step_name}"


def step_keys(workspace_ids: Iterable[str]) -> list[str]:
    """The ``config_id`` of each current step of these workspaces' workflows (a step renamed or removed
    since has another: its jobs are reached by their run)."""
    found = Workflow._get_collection().find({"workspace_id": {"$in": list(workspace_ids)}}, {"steps": 1})
    return [step_key(wf["_id"], step.get("name") or "") for wf in found for step in wf.get("steps") or ()]


def new_step_job(
    run: dict[str, Any],
    index: int,
    payload: dict[str, Any],
    step_config: dict[str, Any],
    max_attempts: int,
) -> dict[str, Any]:
    """A new pending job for step ``index`` of a workflow ``run``, due after the step's ``delay_seconds``.
    Its id, dispatch key and idempotency key (``run:<run_id>:<step>``) follow from the run and the step,
    so planning it twice writes it once."""
    step, now = run["steps"][index], utcnow()
    key = f"run:{run['_id']}:{index}"
    form = payload.get("form") or {}
    return {
        "_id": step_job_id(run["_id"], index),
        "config_id": step_key(run["workflow_id"], step["name"]),
        "form_id": form.get("id") or "",
        "workspace_id": run.get("workspace_id"),
        "submission_id": (payload.get("submission") or {}).get("id"),
        "plugin_id": step["plugin_id"],
        "event": payload.get("event") or "workflow.run",
        "status": TRANSITIONS["create"].target,
        "scheduled_for": time.time() + float(step.get("delay_seconds") or 0),
        "attempts": 0,
        "max_attempts": max_attempts,
        "payload": payload,
        "dispatch_key": key,
        "idempotency_key": key,
        "run_id": str(run["_id"]),
        "step": index,
        "step_config": step_config,
        "created_at": now,
        "updated_at": now,
    }


# -- claims ------------------------------------------------------------------------------------------------


def claimed(owner: str, lease_seconds: float, token: str, now: float, stamp: dt.datetime) -> dict[str, Any]:
    """What a claim by ``owner`` sets on a job (``attempts`` is counted apart)."""
    return {
        "status": TRANSITIONS["claim"].target,
        "lease_owner": owner,
        "lease_expires_at": now + lease_seconds,
        "claim_token": token,
        "started_at": stamp,
        "updated_at": stamp,
    }


def claim(job_id: ObjectId, fields: dict[str, Any]) -> Change:
    """Claim one pending job with ``fields`` (from ``claimed``), counting an attempt."""
    return _change("claim", {"_id": job_id}, fields, fields["updated_at"], **{"$inc": {"attempts": 1}})


def claim_at_insert(doc: dict[str, Any], fields: dict[str, Any]) -> None:
    """Stamp a claim (``fields`` from ``claimed``) on a new job document not written yet."""
    if not allowed("claim_at_insert", doc["status"]) or "claim_token" in doc:
        raise JobStateError(
            f"Only a new pending job can be claimed as it is written; this one is {doc['status']}."
        )
    doc.update(fields, status=TRANSITIONS["claim_at_insert"].target, attempts=doc.get("attempts", 0) + 1)


# -- a claimed job's attempt ends ---------------------------------------------------------------------------


def finish(job: JobRecord, status: JobStatus, error: str | None = None) -> Change:
    """completed, failed or cancelled (``drop``): the job leaves the queue."""
    transition = {JobStatus.COMPLETED: "complete", JobStatus.FAILED: "fail", JobStatus.CANCELLED: "drop"}.get(
        status
    )
    if transition is None:
        raise JobStateError(f"A running job cannot finish as {status.value}.")
    now = utcnow()
    fields = {"completed_at": now, "last_error": error, "lease_owner": None, "lease_expires_at": None}
    change = _fenced(transition, job, fields, stamp=now)
    return Change(
        change.filter, change.update, (rollups.settled_as(job, TRANSITIONS[transition].target, now, error),)
    )


def retry(job: JobRecord, when: float, error: str | None) -> Change:
    """Back to pending, due at ``when`` (epoch seconds), the attempt spent."""
    change = _back_to_pending("retry", job, when, error)
    stamp = change.update["$set"]["updated_at"]
    return Change(change.filter, change.update, (rollups.settled_as(job, "retried", stamp, error),))


def defer(job: JobRecord, when: float) -> Change:
    """Back to pending, due at ``when``, the attempt refunded (it did not run)."""
    return _back_to_pending("defer", job, when, None, **{"$inc": {"attempts": -1}})


def release(job: JobRecord) -> Change:
    """Back to pending now, the attempt refunded: the claim is given up before the attempt started."""
    return _back_to_pending("release", job, time.time(), None, **{"$inc": {"attempts": -1}})


def _back_to_pending(transition: str, job: JobRecord, when: float, error: str | None, **ops: Any) -> Change:
    fields: dict[str, Any] = {
        "scheduled_for": when,
        "lease_owner": None,
        "lease_expires_at": None,
        "claim_token": None,
    }
    if error is not None:
        fields["last_error"] = error
    return _fenced(transition, job, fields, **ops)


def note(job: JobRecord, error: str) -> Change:
    """Record ``error`` on a job this claim still holds; it stays running under its lease (no transition)."""
    return Change(
        {"_id": job["_id"], "status": RUNNING, "claim_token": job["claim_token"]},
        {"$set": {"last_error": error, "updated_at": utcnow()}},
    )


def reaped(
    job_ids: list[Any], now: float, stamp: dt.datetime, read: list[JobRecord] | None = None
) -> tuple[Change, Change]:
    """For jobs whose lease expired before ``now`` (their process died), of ``job_ids``: back to pending
    (``reap``) and, for those out of attempts, failed (``expire``). Apply each to many jobs. ``read``: the
    jobs as read (with their config, form and creation), which the failed change counts in the rollups."""
    stale = {"_id": {"$in": job_ids}, "lease_expires_at": {"$lt": now}}
    clear = {"lease_owner": None, "lease_expires_at": None, "claim_token": None}
    back = _change("reap", stale, {"scheduled_for": now, "last_error": REAPED, **clear}, stamp)
    failed = _change("expire", stale, {"completed_at": stamp, "last_error": EXPIRED, **clear}, stamp)
    counted = tuple(rollups.settled_as(job, FAILED, stamp, EXPIRED) for job in read or ())
    return back, Change(failed.filter, failed.update, counted)


# -- people and operations ---------------------------------------------------------------------------------


def requeue(
    job: JobRecord,
    transition: str,
    statuses: tuple[str, ...],
    extra_attempts: int,
    operation_id: str | None = None,
) -> bool:
    """A finished job (as read, in one of ``statuses``) becomes pending now with ``extra_attempts`` more
    attempts (``resend``; ``replay`` with the replay's ``operation_id``). False when its status changed
    meanwhile or does not allow ``transition``."""
    if job["status"] not in statuses or not allowed(transition, job["status"]):
        return False
    fields: dict[str, Any] = {
        "scheduled_for": time.time(),
        "completed_at": None,
        "claim_token": None,
        "max_attempts": max(job["max_attempts"], job["attempts"] + extra_attempts),
    }
    if operation_id is not None:
        fields["operation_id"] = operation_id
    change = _change(transition, {"_id": job["_id"]}, fields)
    change.filter["status"] = job["status"]  # as read: its other fields were read with it
    return apply(Change(change.filter, change.update, _taken_back(job))) == 1


def _taken_back(job: JobRecord) -> tuple[Settled, ...]:
    """A finished job sent again leaves the rollups (its next end counts instead): its end, taken back.
    Nothing when it was read without what the rollups need."""
    done = as_datetime(job.get("completed_at"))
    if not job.get("config_id") or done is None or job["status"] not in FINISHED:
        return ()
    return (replace(rollups.settled_as(job, job["status"], done), sign=-1),)


SETTLE_FIELDS = {  # what a status change reads of a job: its attempts and what its rollup counts
    "status": 1,
    "attempts": 1,
    "max_attempts": 1,
    "config_id": 1,
    "form_id": 1,
    "workspace_id": 1,
    "created_at": 1,
}
REQUEUE_FIELDS = {**SETTLE_FIELDS, "completed_at": 1}
ID_BATCH = 1000  # jobs moved by one write of ``cancel_waiting`` or ``bring_forward`` (by ``_id``)


def resend(job_id: ObjectId, extra_attempts: int) -> None:
    """Send a finished job again (a manual retry), with ``extra_attempts`` more attempts to spend."""
    job = PluginJob._get_collection().find_one({"_id": job_id}, REQUEUE_FIELDS)
    if job is None or not requeue(job, "resend", ALLOWED["resend"], extra_attempts):
        status = job["status"] if job else "gone"
        raise JobStateError(f"Only a finished job can be sent again; this one is {status}.")


def resend_failed(config_id: str, extra_attempts: int) -> int:
    """Send again every failed job of an integration; returns how many were requeued."""
    found = PluginJob._get_collection().find({"config_id": config_id, "status": FAILED}, REQUEUE_FIELDS)
    return sum(requeue(job, "resend", (FAILED,), extra_attempts) for job in found)


def bring_forward(config_id: str, now: float) -> int:
    """Make an integration's waiting jobs due ``now`` (those held back by its circuit, a retry's back-off
    or a rate limit); their status and attempts are unchanged. Returns how many moved. (Read by equality
    along (status, config_id), then moved by id: by any other field the store walks every job.)"""
    waiting = _waiting({"config_id": config_id}, {"scheduled_for": 1})
    later = (job["_id"] for job in waiting if float(job.get("scheduled_for") or 0) > now)
    coll, moved = PluginJob._get_collection(), 0
    for ids in chunks(later, ID_BATCH):
        match = {"_id": {"$in": ids}, "status": PENDING}  # (a time range beside the ids: a walk on nx-27017)
        moved += coll.update_many(match, {"$set": {"scheduled_for": now}}).modified_count
    return moved


def cancel(job_id: ObjectId, reason: str = "Cancelled by a user.") -> None:
    """Cancel a job that waits; a running one finishes its attempt first."""
    if not cancel_waiting(reason, _id=job_id):
        job = PluginJob._get_collection().find_one({"_id": job_id}, {"status": 1})
        raise JobStateError(
            f"Only a pending job can be cancelled; this one is {job['status'] if job else 'gone'}."
        )


def cancel_waiting(reason: str, **match: Any) -> int:
    """Cancel every waiting job matching ``match``, one field: ``_id``, ``config_id``, ``form_id``,
    ``operation_id``, ``run_id`` or ``submission_id``, a value or ``{"$in": values}``; running ones finish
    first. Returns how many were cancelled. (Read by equality on an index, then moved by id: by any other
    field, or a ``$in``, the store walks every job: 1.4-2 s at 600,000, inside the request.)"""
    now = utcnow()
    change = _change("cancel", {}, {"last_error": reason, "completed_at": now}, now)
    cancelled = 0
    for some in chunks(_waiting(match, SETTLE_FIELDS), ID_BATCH):
        counted = tuple(rollups.settled_as(job, CANCELLED, now, reason) for job in some)
        ids = {"_id": {"$in": [job["_id"] for job in some]}}
        cancelled += apply(Change({**ids, **change.filter}, change.update, counted), many=True)
    return cancelled


def _waiting(match: dict[str, Any], fields: dict[str, int]) -> Iterator[dict[str, Any]]:
    """The pending jobs ``match`` (one field: a value or ``{"$in": values}``) selects, by equality."""
    ((name, value),) = match.items()
    values = value["$in"] if isinstance(value, dict) else [value]
    coll = PluginJob._get_collection()
    for one in values:
        yield from coll.find({name: {"$eq": one}, "status": {"$eq": PENDING}}, fields)


def disable_integration(config_id: Any, reason: str) -> None:
    """Switch an integration off with the reason shown to its owners (its waiting jobs are then cancelled
    when claimed)."""
    PluginConfig._get_collection().update_one(
        {"_id": config_id if isinstance(config_id, ObjectId) else ObjectId(config_id)},
        {"$set": {"enabled": False, "disabled_reason": reason, "disabled_at": utcnow()}},
    )
