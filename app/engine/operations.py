"""Tracked bulk operations (backfill, replay): durable, resumable after a crash, throttled behind live traffic.

An operation first *prepares*: in the background, one scan writes the ids of its items (those that exist
when it starts) into numbered chunks, and sets its total; a preview stops there. Then each batch reads the
next ids from their chunk (one indexed lookup) and the items by id, so no batch re-sorts or re-scans a large
collection. Each batch is taken under a short lease on the operation document, and the cursor moves only
with the batch's counts, in one compare-and-set; a process that dies mid-batch leaves the lease to expire
and the next one redoes that batch. Each kind makes redoing a batch harmless (backfill: unique dispatch keys;
replay: jobs carry the id of the replay that requeued them). A batch starts only while fewer than
``inflight_limit`` of the operation's jobs wait or run, so live deliveries never queue behind a backlog;
while no live job waits or runs, up to ``idle_inflight_limit`` (as fast as deliveries allow).

Shares: turns go round the workspaces (the one served longest ago first, a throttled operation to the
back), an integration has at most one running operation, a workspace at most ``Limits.per_workspace``,
and an integration is sent again (replay, backfill with resend) at most once per ``Limits.resend_interval``.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

import pymongo
from bson import ObjectId

from app.engine.jobs import cancel_waiting
from app.models import (
    JobStatus,
    Operation,
    OperationChunk,
    OperationStatus,
    PluginJob,
    as_datetime,
    isoformat,
    utcnow,
)

RUNNING = OperationStatus.RUNNING.value
# What an operation holds only while it runs (an erasure's identifier): dropped when it ends, never shown.
FORGET = {"params.private": ""}
LIVE_STATES = [JobStatus.PENDING.value, JobStatus.RUNNING.value]
CHUNK = 1000  # item ids per chunk document
SCAN_PAGE = 5000  # item ids per read, for a kind that reads its items page by page (``item_ids``)
PREPARE_SECONDS = 600.0  # the lease (and store deadline) of the one scan that snapshots the items
# Seconds before its start from which an operation reads the ids of the items that exist (``cutoff``): more
# than the clocks of the processes that accept items differ, plus the time an accepted item takes to write.
CUTOFF_MARGIN = 5.0


@dataclass
class BatchResult:
    """What one batch did: jobs created or requeued, items skipped, items that failed."""

    created: int = 0
    skipped: int = 0
    failures: int = 0


class Kind(Protocol):
    """What an operation kind provides to the runner."""

    def query(self, params: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The collection and filter of the items."""

    def process(self, op: dict[str, Any], items: list[dict[str, Any]], max_attempts: int) -> BatchResult:
        """Act on one batch; safe to run again for the same items."""

    def recent(self, params: dict[str, Any], since: dt.datetime) -> list[Any]:
        """The ids of the items created at or after ``since`` (few: the last seconds'), read now."""


def window(params: dict[str, Any]) -> dict[str, Any]:
    """Filter terms for the items an operation covers: those that existed when it was started (its
    cut-off, see ``cutoff``) and created within ``since`` / ``until``."""
    terms: list[dict[str, Any]] = []
    if params.get("before"):
        older = {"created_at": {"$lt": as_datetime(params["before"])}}
        recent = [ObjectId(i) for i in params.get("recent") or []]
        terms.append({"$or": [older, {"_id": {"$in": recent}}]} if recent else older)
    elif params.get("upto"):  # an operation started before the cut-off was by time (same second: see cutoff)
        terms.append({"_id": {"$lte": ObjectId(params["upto"])}})
    created: dict[str, Any] = {}
    if params.get("since"):
        created["$gte"] = as_datetime(params["since"])
    if params.get("until"):
        created["$lt"] = as_datetime(params["until"])
    if created:
        terms.append({"created_at": created})
    return {"$and": terms} if terms else {}


def in_window(params: dict[str, Any], doc: dict[str, Any]) -> bool:
    """``window``'s terms, checked here on an item read with its ``_id`` and ``created_at`` (for a read
    along an index the store cannot join a time range to: see replay)."""
    created = as_datetime(doc.get("created_at"))
    if params.get("before"):
        older = created is not None and created < as_datetime(params["before"])
        if not older and str(doc["_id"]) not in (params.get("recent") or ()):
            return False
    elif params.get("upto") and doc["_id"] > ObjectId(params["upto"]):
        return False
    if params.get("since") and (created is None or created < as_datetime(params["since"])):
        return False
    return not (params.get("until") and (created is None or created >= as_datetime(params["until"])))


def cutoff(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The items an operation started now covers, the same whichever process accepted them: those created
    before ``CUTOFF_MARGIN`` ago, and the ids of the ones created since that exist now (read from an
    index). Not an ObjectId made here: an id is a second, then a per-process random value, so items another
    process accepted earlier in the same second can compare higher and would be left out."""
    # A whole second: nx-27017 compares times in its SQL to the second.
    before = (utcnow() - dt.timedelta(seconds=CUTOFF_MARGIN)).replace(microsecond=0)
    recent = kind_of(kind).recent(params, before)
    return {"before": isoformat(before), "recent": [str(i) for i in recent]}


def kind_of(name: str) -> Kind:
    """The operation kinds, by name."""
    from app.engine.backfill import Backfill
    from app.engine.erasure import Erasure
    from app.engine.replay import Replay

    kinds: dict[str, Kind] = {"backfill": Backfill(), "replay": Replay(), "erasure": Erasure()}
    return kinds[name]


@dataclass(frozen=True)
class Step:
    """What one step did: ``done`` items; ``throttled`` when an operation waits for its jobs to drain."""

    done: int = 0
    throttled: bool = False
    prepared: bool = False
    op_id: str | None = None  # the operation it stepped


class OperationError(ValueError):
    """An operation that cannot go on; the message says why."""


@dataclass(frozen=True)
class Limits:
    """What a workspace may start: ``per_workspace`` running operations (0: any number), and one operation
    that sends again (replay, backfill with resend) per integration every ``resend_interval`` seconds."""

    per_workspace: int = 0
    resend_interval: float = 0.0


class OperationRefused(Exception):
    """An operation that may not start now: ``status`` (409, 429), ``code``, a message for people, and
    when it may be asked again (``retry_after`` seconds) if that is known."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None, **details: Any):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.retry_after, self.details = retry_after, details


def start(
    kind: str,
    workspace_id: str | None,
    params: dict[str, Any],
    created_by: str | None,
    preview: bool = False,
    config_ids: Collection[str] = (),
    limits: Limits | None = None,
) -> Operation:
    """Create an operation over the items that exist now, sending to the integrations ``config_ids``; any
    process's scheduler prepares and runs it. A preview only counts them (its ``total``) and completes.
    Raises OperationRefused past ``limits`` (hold a lock on the workspace around it: check, then insert)."""
    resends = kind == "replay" or bool(params.get("resend"))
    if limits is not None:
        admit(kind, workspace_id, list(config_ids), resends and not preview, preview, limits)
    params = {**params, **cutoff(kind, params)}  # items created after this are not part of it
    return Operation(
        workspace_id=workspace_id,
        kind=kind,
        params=params,
        config_ids=list(config_ids),
        resends=resends and not preview,
        preview=preview,
        created_by=created_by,
        started_at=time.time(),
    ).save()


def admit(
    kind: str, workspace_id: str | None, config_ids: list[str], resends: bool, preview: bool, limits: Limits
) -> None:
    """Refuse a ``kind`` operation that the workspace's running ones or the integrations' recent resends
    forbid (OperationRefused)."""
    coll = Operation._get_collection()
    running = list(
        coll.find(
            {"status": RUNNING, "workspace_id": workspace_id}, {"config_ids": 1, "preview": 1, "kind": 1}
        )
    )
    if limits.per_workspace > 0 and len(running) >= limits.per_workspace:
        raise OperationRefused(
            429,
            "too_many_operations",
            f"This workspace already runs {len(running)} operations, its most at once; wait for one to "
            "finish or cancel one.",
        )
    if preview:
        return  # a preview sends nothing
    wanted = set(config_ids)
    for op in running:
        if not op.get("preview") and wanted & set(op.get("config_ids") or ()):
            raise OperationRefused(
                409,
                "conflict",
                f"{'This integration' if len(wanted) == 1 else f'An integration this {kind} sends to'} "
                f"already has a {op['kind']} running; wait for it to finish or cancel it.",
                operation_id=str(op["_id"]),
            )
    if resends and limits.resend_interval > 0 and wanted:
        since = utcnow() - dt.timedelta(seconds=limits.resend_interval)
        last = coll.find_one(
            {"config_ids": {"$in": sorted(wanted)}, "resends": True, "created_at": {"$gt": since}},
            sort=[("created_at", -1)],
        )
        if last is not None:
            wait = math.ceil(
                limits.resend_interval - (utcnow() - as_datetime(last["created_at"])).total_seconds()
            )
            raise OperationRefused(
                429,
                "rate_limited",
                f"{'This integration' if len(wanted) == 1 else f'An integration this {kind} sends to'} was "
                f"sent its deliveries again less than {limits.resend_interval:g} s ago (a replay, or a "
                f"backfill with resend); try again in {max(1, wait)} s.",
                retry_after=max(1, wait),
                operation_id=str(last["_id"]),
            )


def cancel(op_id: ObjectId) -> bool:
    """Stop a running operation and cancel the jobs it queued that have not run yet."""
    coll = Operation._get_collection()
    stopped = coll.update_one(
        {"_id": op_id, "status": RUNNING},
        {"$set": {"status": OperationStatus.CANCELLED.value, "finished_at": utcnow()}, "$unset": FORGET},
    ).modified_count
    if stopped:
        cancel_waiting("The operation was cancelled.", operation_id=str(op_id))
        _drop_chunks(str(op_id))
    return bool(stopped)


def inflight(op_id: str, limit: int) -> int:
    """How many of the operation's jobs are waiting or running, counted up to ``limit``: each state by
    equality, from the (operation_id, status) index. (A ``$in`` on the state walked every job the operation
    had made on nx-27017: 80 ms at 100,000, asked at every finished job, and a backfill of 100,000 slowed
    to 167/s while one of 30,000 went 306/s.)"""
    jobs, found = PluginJob._get_collection(), 0
    for state in LIVE_STATES:
        if found < limit:
            found += len(list(jobs.find({"operation_id": op_id, "status": state}, {"_id": 1}).limit(limit - found)))
    return found


def _claim(owner: str, lease: float) -> dict[str, Any] | None:
    """Take a turn of the running operation that nobody holds whose workspace was served longest ago (and
    within it, the operation served longest ago): a workspace's operations, throttled or not, do not take
    every turn."""
    now = time.time()
    coll = Operation._get_collection()
    running = list(coll.find({"status": RUNNING}, {"workspace_id": 1, "served_at": 1, "lease_expires_at": 1}))
    served: dict[Any, float] = defaultdict(float)  # workspace -> its last turn
    for op in running:
        served[op.get("workspace_id")] = max(served[op.get("workspace_id")], op.get("served_at") or 0.0)
    free = [op for op in running if (op.get("lease_expires_at") or 0.0) < now]
    free.sort(key=lambda op: (served[op.get("workspace_id")], op.get("served_at") or 0.0, op["_id"]))
    for candidate in free:
        op = coll.find_one_and_update(
            {"_id": candidate["_id"], "status": RUNNING, "lease_expires_at": {"$lt": now}},
            {"$set": {"lease_owner": owner, "lease_expires_at": now + lease, "served_at": now}},
        )
        if op is None:
            continue  # another process took this turn
        if not op.get("prepared"):  # the scan may take long: hold it for that
            coll.update_one({"_id": op["_id"]}, {"$set": {"lease_expires_at": now + PREPARE_SECONDS}})
        return op
    return None


BACKLOG_SECONDS = 0.5  # how long a process reuses its answer to ``live_backlog``
_backlog: dict[str, float | bool] = {"at": -math.inf, "live": False}


def live_backlog() -> bool:
    """Whether a live job (not an operation's) is due and waiting, or running: then operations keep to
    their ``inflight_limit``. Asked of the store at most every BACKLOG_SECONDS per process (ids only, one row;
    nx-27017 walks the pending jobs for it, so not at every batch)."""
    now = time.monotonic()
    if now - float(_backlog["at"]) < BACKLOG_SECONDS:
        return bool(_backlog["live"])
    jobs = PluginJob._get_collection()
    live = (
        jobs.find_one(
            {"status": JobStatus.PENDING.value, "operation_id": None, "scheduled_for": {"$lte": time.time()}},
            {"_id": 1},
        )
        is not None
        or jobs.find_one({"status": JobStatus.RUNNING.value, "operation_id": None}, {"_id": 1}) is not None
    )
    _backlog.update(at=now, live=live)
    return live


def step(
    owner: str,
    lease: float,
    batch_size: int,
    inflight_limit: int,
    max_attempts: int,
    idle_inflight_limit: int | None = None,
) -> Step:
    """Prepare, or run one batch of, one operation that nobody else holds. With no live backlog (see
    ``live_backlog``) an operation may keep up to ``idle_inflight_limit`` jobs waiting or running: as fast
    as deliveries allow while nothing live waits."""
    op = _claim(owner, lease)
    if op is None:
        return Step()
    held = {"_id": op["_id"], "status": RUNNING, "lease_owner": owner}
    if not op.get("prepared"):
        _prepare(op, held)
        return Step(prepared=True)
    coll = Operation._get_collection()
    op_id = str(op["_id"])
    if idle_inflight_limit is not None and idle_inflight_limit > inflight_limit and not live_backlog():
        inflight_limit = idle_inflight_limit
    room = min(batch_size, inflight_limit - inflight(op_id, inflight_limit))
    if room <= 0:  # (its turn taken: it waits behind the others)
        coll.update_one(held, {"$set": {"lease_expires_at": 0.0}})
        return Step(throttled=True, op_id=op_id)
    done = int(op.get("done", 0))
    if done >= int(op.get("total", 0)):
        _finish(held, op_id, OperationStatus.COMPLETED)
        return Step()
    ids = _next_ids(op_id, done, room)
    kind = kind_of(op["kind"])
    items_coll, _ = kind.query(op["params"])
    found = {doc["_id"]: doc for doc in items_coll.find({"_id": {"$in": ids}})}
    try:
        result = kind.process(op, [found[i] for i in ids if i in found], max_attempts)
    except OperationError as exc:
        coll.update_one(held, {"$set": {"error": str(exc)}})
        _finish(held, op_id, OperationStatus.FAILED)
        return Step()
    result.skipped += len(ids) - len(found)  # gone since the operation started
    moved = coll.update_one(
        held,
        {
            "$set": {"lease_expires_at": 0.0},
            "$inc": {
                "done": len(ids),
                "created": result.created,
                "skipped": result.skipped,
                "failures": result.failures,
            },
        },
    ).modified_count
    if not moved and coll.find_one({"_id": op["_id"], "status": OperationStatus.CANCELLED.value}):
        cancel_waiting("The operation was cancelled.", operation_id=op_id)  # what this batch queued
    return Step(done=len(ids) if moved else 0)


def _prepare(op: dict[str, Any], held: dict[str, Any]) -> None:
    """Snapshot the ids of the operation's items into chunks (one scan, in the background) and set its total.
    A kind with ``item_ids(params)`` names its items itself (an erasure: from the search index)."""
    op_id = str(op["_id"])
    kind = kind_of(op["kind"])
    items_coll, filt = kind.query(op["params"])
    own_ids = getattr(kind, "item_ids", None)
    chunks = OperationChunk._get_collection()
    total, batch = 0, []
    with pymongo.timeout(PREPARE_SECONDS):  # one long scan, not a hung store
        _drop_chunks(op_id)  # a scan that died half-way starts again
        scan = (doc["_id"] for doc in items_coll.find(filt, {"_id": 1}).batch_size(CHUNK))
        found = own_ids(op["params"]) if own_ids else scan
        for item_id in found:
            total += 1
            if op.get("preview"):
                continue
            batch.append(item_id)
            if len(batch) == CHUNK:
                chunks.insert_one({"_id": f"{op_id}:{(total - 1) // CHUNK}", "op_id": op_id, "ids": batch})
                batch = []
        if batch:
            chunks.insert_one({"_id": f"{op_id}:{(total - 1) // CHUNK}", "op_id": op_id, "ids": batch})
    coll = Operation._get_collection()
    fields: dict[str, Any] = {
        "prepared": True,
        "total": total,
        "lease_expires_at": 0.0,
        "started_at": time.time(),
    }
    if op.get("preview") or total == 0:
        fields.update(status=OperationStatus.COMPLETED.value, finished_at=utcnow())
        coll.update_one(held, {"$set": fields, "$unset": FORGET})
        return
    coll.update_one(held, {"$set": fields})


def _next_ids(op_id: str, done: int, count: int) -> list[Any]:
    """The ids of items ``done`` to ``done + count`` (within one chunk: a batch never spans two)."""
    chunk = OperationChunk._get_collection().find_one({"_id": f"{op_id}:{done // CHUNK}"}) or {"ids": []}
    offset = done % CHUNK
    return list(chunk["ids"][offset : offset + count])


def _finish(held: dict[str, Any], op_id: str, status: OperationStatus) -> None:
    Operation._get_collection().update_one(
        held,
        {"$set": {"status": status.value, "finished_at": utcnow(), "lease_expires_at": 0.0}, "$unset": FORGET},
    )
    _drop_chunks(op_id)


def _drop_chunks(op_id: str) -> None:
    OperationChunk._get_collection().delete_many({"op_id": op_id})
