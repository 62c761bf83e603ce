"""Tracked bulk operations (backfill, replay): durable, resumable after a crash, throttled behind live traffic.

An operation walks its items in ``_id`` order in small batches. Each batch is taken under a short lease on
the operation document, and the cursor moves only with the batch's counts, in one compare-and-set; a process
that dies mid-batch leaves the lease to expire and the next one redoes that batch. Each kind makes redoing a
batch harmless (backfill: unique dispatch keys; replay: jobs carry the id of the replay that requeued them).
A batch starts only while fewer than ``inflight_limit`` of the operation's jobs wait or run, so live
deliveries never queue behind a large backlog.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from bson import ObjectId

from app.engine.queue import cancel_pending
from app.models import JobStatus, Operation, OperationStatus, PluginJob, utcnow

RUNNING = OperationStatus.RUNNING.value
LIVE_STATES = [JobStatus.PENDING.value, JobStatus.RUNNING.value]


@dataclass
class BatchResult:
    """What one batch did: jobs created or requeued, items skipped, items that failed."""

    created: int = 0
    skipped: int = 0
    failures: int = 0


class Kind(Protocol):
    """What an operation kind provides to the runner."""

    def query(self, params: dict[str, Any], op_id: str | None) -> tuple[Any, dict[str, Any]]:
        """The collection and filter of the items (of operation ``op_id``, None for a preview), no cursor."""

    def process(self, op: dict[str, Any], items: list[dict[str, Any]], max_attempts: int) -> BatchResult:
        """Act on one batch; safe to run again for the same items."""


def kind_of(name: str) -> Kind:
    """The operation kinds, by name."""
    from app.engine.backfill import Backfill
    from app.engine.replay import Replay

    kinds: dict[str, Kind] = {"backfill": Backfill(), "replay": Replay()}
    return kinds[name]


@dataclass(frozen=True)
class Step:
    """What one step did: ``done`` items; ``throttled`` when an operation waits for its jobs to drain."""

    done: int = 0
    throttled: bool = False


class OperationError(ValueError):
    """An operation that cannot start; the message says why."""


def count(kind: str, params: dict[str, Any]) -> int:
    """How many items an operation with these parameters would go through (the preview)."""
    coll, filt = kind_of(kind).query(params, None)
    return coll.count_documents(filt)


def start(kind: str, workspace_id: str | None, params: dict[str, Any], created_by: str | None) -> Operation:
    """Create a running operation over the items that exist now; any process's scheduler will run it."""
    params = {**params, "upto": str(ObjectId())}  # items created after this are not part of it
    return Operation(
        workspace_id=workspace_id,
        kind=kind,
        params=params,
        total=count(kind, params),
        created_by=created_by,
        started_at=time.time(),
    ).save()


def cancel(op_id: ObjectId) -> bool:
    """Stop a running operation and cancel the jobs it queued that have not run yet."""
    coll = Operation._get_collection()
    stopped = coll.update_one(
        {"_id": op_id, "status": RUNNING},
        {"$set": {"status": OperationStatus.CANCELLED.value, "finished_at": utcnow()}},
    ).modified_count
    if stopped:
        cancel_pending("The operation was cancelled.", operation_id=str(op_id))
    return bool(stopped)


def inflight(op_id: str, limit: int) -> int:
    """How many of the operation's jobs are waiting or running, counted up to ``limit``."""
    cursor = PluginJob._get_collection().find(
        {"operation_id": op_id, "status": {"$in": LIVE_STATES}}, {"_id": 1}
    ).limit(limit)
    return len(list(cursor))


def _claim(owner: str, lease: float) -> dict[str, Any] | None:
    now = time.time()
    return Operation._get_collection().find_one_and_update(
        {"status": RUNNING, "lease_expires_at": {"$lt": now}},
        {"$set": {"lease_owner": owner, "lease_expires_at": now + lease}},
    )


def step(owner: str, lease: float, batch_size: int, inflight_limit: int, max_attempts: int) -> Step:
    """Run one batch of one operation that nobody else holds."""
    op = _claim(owner, lease)
    if op is None:
        return Step()
    coll = Operation._get_collection()
    held = {"_id": op["_id"], "status": RUNNING, "lease_owner": owner}
    op_id = str(op["_id"])
    room = min(batch_size, inflight_limit - inflight(op_id, inflight_limit))
    if room <= 0:
        coll.update_one(held, {"$set": {"lease_expires_at": 0.0}})
        return Step(throttled=True)
    kind = kind_of(op["kind"])
    items_coll, filt = kind.query(op["params"], op_id)
    if op.get("cursor"):
        filt["_id"] = {**filt.get("_id", {}), "$gt": ObjectId(op["cursor"])}
    items = list(items_coll.find(filt).sort("_id", 1).limit(room))
    if not items:
        _complete(coll, held, op)
        return Step()
    try:
        result = kind.process(op, items, max_attempts)
    except OperationError as exc:
        coll.update_one(
            held,
            {"$set": {"status": OperationStatus.FAILED.value, "error": str(exc), "finished_at": utcnow()}},
        )
        return Step()
    moved = coll.update_one(
        held,
        {
            "$set": {"cursor": str(items[-1]["_id"]), "lease_expires_at": 0.0},
            "$inc": {
                "done": len(items),
                "created": result.created,
                "skipped": result.skipped,
                "failures": result.failures,
            },
        },
    ).modified_count
    if not moved and coll.find_one({"_id": op["_id"], "status": OperationStatus.CANCELLED.value}):
        cancel_pending("The operation was cancelled.", operation_id=op_id)  # what this batch queued
    return Step(done=len(items) if moved else 0)


def _complete(coll: Any, held: dict[str, Any], op: dict[str, Any]) -> None:
    # Items created in the same second as the operation may slip past the count; the total never lags.
    coll.update_one(
        held,
        {
            "$set": {
                "status": OperationStatus.COMPLETED.value,
                "finished_at": utcnow(),
                "lease_expires_at": 0.0,
                "total": max(op.get("total", 0), op.get("done", 0)),
            }
        },
    )
