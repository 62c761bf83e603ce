"""Removing submissions for good, with everything held about them: their earlier revisions, search postings,
jobs (whose payloads hold the data) and those jobs' execution logs, the Idempotency-Key records of their
intake (the stored response) and the workflow runs they triggered. The submission goes last, so a removal
that stops part-way is finished by running it again. Each removal is recorded (``DataRemoval``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from app.chunks import chunks
from app.engine import indexer
from app.engine.jobs import cancel_waiting
from app.models import (
    DataRemoval,
    IdempotencyKey,
    JobStatus,
    PluginExecutionLog,
    PluginJob,
    Submission,
    SubmissionRevision,
    WorkflowRun,
    as_datetime,
    utcnow,
)
from app.models import figures as fig
from app.models.idempotency import TTL as KEY_TTL
from app.models.search_terms import SubmissionTerm, posting_ids

LIVE = [JobStatus.PENDING.value, JobStatus.RUNNING.value]
# What a removal reads of a submission (``revision`` and ``created_at`` spare reads of revisions and
# Idempotency-Key records that cannot exist; ``form_id`` and ``created_at`` find an erasure's figures).
FIELDS = dict.fromkeys(("_id", "data", "history", "sort_key", "workspace_id", "form_id", "revision", "created_at"), 1)
ID_BATCH = 500  # ids per ``$in`` (each write well within the store's deadline)
RUN_SUBMISSION = "trigger.data.submission.id"  # a workflow run's submission (app.engine.dispatch.snapshot)
KEPT_NOTE = "kept while a delivery of theirs waits or runs; removed by a later pass"


@dataclass
class Removed:
    """What a removal took away (and ``kept``: submissions left because a delivery of theirs is live)."""

    submissions: int = 0
    revisions: int = 0
    postings: int = 0
    jobs: int = 0
    logs: int = 0
    kept: int = 0

    def __iadd__(self, other: Removed) -> Removed:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)
        return self

    def counts(self) -> dict[str, int]:
        return asdict(self)


def jobs_of(submission_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Each submission's jobs (``_id`` and ``status``), one equality read a submission (see ``_ids_where``):
    a removal reads them once, to know which submissions are busy and which jobs to remove."""
    jobs = PluginJob._get_collection()
    return {sid: list(jobs.find({"submission_id": {"$eq": sid}}, {"status": 1})) for sid in submission_ids}


def busy(jobs: Mapping[str, Sequence[Mapping[str, Any]]]) -> set[str]:
    """The submissions (of ``jobs_of``) with a job waiting or running."""
    return {sid for sid, rows in jobs.items() if any(row.get("status") in LIVE for row in rows)}


def _ids_where(coll: Any, field: str, values: Sequence[str]) -> list[Any]:
    """The ids of ``coll``'s documents whose indexed ``field`` is one of ``values``, one equality read a
    value. (nx-27017 serves equality on an indexed field, and ``_id: {$in}``, from the index, but walks the
    whole collection for ``$in`` on any other field: 60 ms at 80,000 jobs, on every batch, and a retention
    pass of 50,000 beside live traffic fell to about 3 removals a second.)"""
    return [row["_id"] for value in values for row in coll.find({field: {"$eq": value}}, {"_id": 1})]


def was_edited(doc: Mapping[str, Any]) -> bool:
    """Whether a submission (a document with ``revision``; without, taken as edited) has earlier revisions."""
    return int(doc.get("revision") or 2) > 1


def _delete_ids(coll: Any, ids: Sequence[Any]) -> int:
    """Delete these documents by ``_id`` (index-served), ID_BATCH at a time; how many went."""
    return sum(coll.delete_many({"_id": {"$in": some}}).deleted_count for some in chunks(ids, ID_BATCH))


def cancel_deliveries(submission_ids: list[str], reason: str) -> int:
    """Cancel the waiting jobs of these submissions (running ones finish first)."""
    return cancel_waiting(reason, submission_id={"$in": submission_ids})


def remove(docs: Sequence[Mapping[str, Any]], forget: Callable[[str], bool] | None = None) -> Removed:
    """Remove these submissions (documents with ``_id``, ``data`` and ``history`` if any) and everything
    held about them; those with a job waiting or running are left (counted in ``kept``). ``forget`` (an
    erasure): the text values of the results figures of these submissions' days that it says hold a
    person's data are taken out too (while the indexer is paused)."""
    jobs = jobs_of([str(doc["_id"]) for doc in docs])
    live = busy(jobs)
    free = [doc for doc in docs if str(doc["_id"]) not in live]
    job_ids = [row["_id"] for doc in free for row in jobs[str(doc["_id"])]]
    if forget is None or not docs:
        return _remove(free, job_ids, Removed(kept=len(live)))
    with indexer.paused() as seq:  # (no batch counts these in the figures meanwhile)
        done = _remove(free, job_ids, Removed(kept=len(live)))
        _forget_figures(docs, forget, seq)
    return done


def _remove(docs: Sequence[Mapping[str, Any]], job_ids: Sequence[Any], done: Removed) -> Removed:
    if not docs:
        return done
    ids = [str(doc["_id"]) for doc in docs]
    words = {  # (every posting of a submission is a word of its values: edits drop the others)
        pid
        for doc in docs
        for data in (doc.get("data"), *(entry.get("data") for entry in doc.get("history") or ()))
        for pid in posting_ids(doc["_id"], data)
    }
    terms, revisions = SubmissionTerm._get_collection(), SubmissionRevision._get_collection()
    keys, runs = IdempotencyKey._get_collection(), WorkflowRun._get_collection()
    for chunk in chunks(sorted(words), ID_BATCH):
        done.postings += terms.delete_many({"_id": {"$in": chunk}}).deleted_count
    # Every read below is by equality on an indexed field and every delete by ``_id`` (``_ids_where``), and
    # only where there can be something: a delete by any other field walks the whole collection on nx-27017.
    edited = [str(doc["_id"]) for doc in docs if was_edited(doc)]
    done.revisions += _delete_ids(revisions, _ids_where(revisions, "submission_id", edited))
    keyed_since = utcnow() - dt.timedelta(seconds=KEY_TTL + 3600)  # (older ones: expired, purge_expired's)
    young = [str(doc["_id"]) for doc in docs if (as_datetime(doc.get("created_at")) or utcnow()) > keyed_since]
    _delete_ids(keys, _ids_where(keys, "submission_id", young))  # (their stored responses)
    spaces = {doc.get("workspace_id") for doc in docs}
    if any(runs.find_one({"workspace_id": {"$eq": ws}}, {"_id": 1}) for ws in spaces):
        _delete_ids(runs, _ids_where(runs, RUN_SUBMISSION, ids))  # (their trigger holds the data)
    done += remove_jobs(job_ids)
    subs = Submission._get_collection()
    for chunk in chunks([doc["_id"] for doc in docs], ID_BATCH):
        done.submissions += subs.delete_many({"_id": {"$in": chunk}}).deleted_count
    indexer.removed()  # (a batch that read these before does not commit)
    for chunk in chunks(sorted(words), ID_BATCH):  # again: the indexer may have written some meanwhile
        terms.delete_many({"_id": {"$in": chunk}})
    return done


def remove_runs(run_ids: Sequence[Any]) -> None:
    """Remove these workflow runs with their jobs and those jobs' logs."""
    runs = WorkflowRun._get_collection()
    for chunk in chunks(run_ids, ID_BATCH):
        remove_jobs(_ids_where(PluginJob._get_collection(), "run_id", [str(i) for i in chunk]))
        runs.delete_many({"_id": {"$in": chunk}})


def _forget_figures(docs: Sequence[Mapping[str, Any]], forget: Callable[[str], bool], seq: int) -> None:
    """Take the values ``forget`` picks out of the results figures of these submissions' days and months,
    stamped with the paused indexer's batch number ``seq``."""
    ids = {
        fig.figures_id(doc["form_id"], period)
        for doc in docs
        if (created := as_datetime(doc.get("created_at"))) is not None
        for period in fig.periods(fig.day_of(created))
    }
    coll = fig.FormFigures._get_collection()
    for figures in coll.find({"_id": {"$in": sorted(ids)}}):
        if fig.forget(figures, forget):
            coll.replace_one({"_id": figures["_id"]}, {**figures, "seq": seq})


def remove_jobs(job_ids: Sequence[Any]) -> Removed:
    """Remove these jobs (their payloads hold the data) and their execution logs (found by equality and
    deleted by id: ``_ids_where``)."""
    jobs, logs = PluginJob._get_collection(), PluginExecutionLog._get_collection()
    done = Removed()
    for some in chunks(_ids_where(logs, "job_id", [str(i) for i in job_ids]), ID_BATCH):
        done.logs += logs.delete_many({"_id": {"$in": some}}).deleted_count
    for some in chunks(job_ids, ID_BATCH):
        done.jobs += jobs.delete_many({"_id": {"$in": some}}).deleted_count
    return done


def record(kind: str, workspace_id: str | None, removed: Removed, **fields: Any) -> DataRemoval:
    """Write the record of one removal (``fields``: form_id, by, by_email, identifier, detail...)."""
    return DataRemoval(kind=kind, workspace_id=workspace_id, **removed.counts(), **fields).save()


def add_to_record(
    match: dict[str, Any], removed: Removed, defaults: dict[str, Any] | None, kept_now: bool = False
) -> bool:
    """Add ``removed`` to the record ``match`` finds (created with ``defaults`` the first time; with None,
    only to one that exists): a retention pass keeps one record per form and day, an erasure one per
    operation. ``kept_now``: ``kept`` is what this pass left (a pass sees the same ones again), not added
    up. False when there was no record to add to (``defaults`` None)."""
    now = utcnow()
    counts = removed.counts()
    kept = counts.pop("kept")
    update: dict[str, Any] = {
        "$inc": counts if kept_now else {**counts, "kept": kept},
        "$set": {"updated_at": now, **({"kept": kept} if kept_now else {})},
    }
    if defaults is not None:
        update["$setOnInsert"] = {**defaults, "created_at": now}
    written = DataRemoval._get_collection().update_one(match, update, upsert=defaults is not None)
    return bool(written.matched_count or written.upserted_id is not None)


def mask(identifier: str) -> str:
    """An identifier as a record shows it: ``zoe@example.com`` -> ``z***@example.com``."""
    local, at, domain = identifier.strip().partition("@")
    return (local[:1] + "***" + at + domain) if at else (identifier.strip()[:1] + "***")
