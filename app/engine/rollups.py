"""Delivery rollups: what the dashboard and the integration cards show, kept as jobs settle.

One document per integration per UTC day of the jobs' *creation* (``_id`` ``"<config_id>:<YYYY-MM-DD>"``),
with flat fields per hour ``h<0..23>_<what>``: jobs ``completed``, ``failed`` (for good), ``cancelled``,
attempts ``retried``, and a latency histogram ``lat<bucket>`` (creation to completion, of completed jobs)
in fixed log-scale buckets, so p50/p95 read back within one bucket's width. (Flat, not nested: nx-27017's
upsert takes a dotted ``$inc`` path as one field name.) The day document also keeps the last
failed attempt's error and time (epoch seconds). One more document per integration, ``_id`` the config id
(``kind: "latest"``), holds its latest attempt as its execution log has it (status, time, error, job).

Counted by the engine where a job's change is applied (engine.jobs ``apply``, ``apply_all`` and the result
writer), one ``$inc`` upsert per touched document per batch, in one bulk write. Everything is read by
``_id`` only: no index, no scan. Times are epoch seconds (nx-27017 stores datetimes set by ``$set`` as
strings).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pymongo import UpdateOne
from pymongo.collection import Collection

from app.db import database
from app.models.common import as_datetime

COLLECTION = "delivery_rollups"
META = "rollups_meta"  # {_id: "delivery", counted_from: epoch seconds | None}

# Latency buckets: bucket 0 holds [0, FIRST), bucket i >= 1 holds [FIRST * RATIO**(i-1), FIRST * RATIO**i);
# the last one holds everything above. sqrt(2) apart: a value read back is off by at most ~19 %.
FIRST = 0.01  # seconds
RATIO = math.sqrt(2)
BUCKETS = 64  # the last lower bound is about 10 ** 7.8 s, past any job's life


def collection() -> Collection:
    return database()[COLLECTION]


def meta_collection() -> Collection:
    return database()[META]


def latency_bucket(seconds: float) -> int:
    """The histogram bucket of a latency."""
    if seconds < FIRST:
        return 0
    return min(BUCKETS - 1, 1 + int(math.floor(math.log(seconds / FIRST, RATIO) + 1e-9)))


def bucket_bounds(index: int) -> tuple[float, float]:
    """The latencies bucket ``index`` holds: [low, high) in seconds (high is inf for the last)."""
    if index <= 0:
        return 0.0, FIRST
    high = math.inf if index >= BUCKETS - 1 else FIRST * RATIO**index
    return FIRST * RATIO ** (index - 1), high


def bucket_value(index: int) -> float:
    """The value a bucket stands for when read back: its geometric middle (bucket 0: half of FIRST)."""
    low, high = bucket_bounds(index)
    if index <= 0:
        return FIRST / 2
    if math.isinf(high):
        return low
    return math.sqrt(low * high)


@dataclass(frozen=True)
class Settled:
    """One job's attempt as a rollup counts it. ``outcome``: completed, failed, cancelled or retried."""

    job_id: Any
    config_id: str
    form_id: str | None
    workspace_id: str | None
    created_at: dt.datetime  # naive UTC: the job's creation (its slot)
    outcome: str
    at: dt.datetime  # naive UTC: when it settled
    error: str | None = None
    sign: int = 1  # -1: taken back (a finished job sent again counts once, by its new outcome)

    @property
    def latency(self) -> float | None:
        if self.outcome != "completed":
            return None
        return max(0.0, (self.at - self.created_at).total_seconds())


def created_of(doc: Mapping[str, Any]) -> dt.datetime:
    """When a stored document was created: its ``created_at``, else its id's time (naive UTC)."""
    return as_datetime(doc.get("created_at")) or doc["_id"].generation_time.replace(tzinfo=None)


def settled_as(job: Mapping[str, Any], outcome: str, at: dt.datetime, error: str | None = None) -> Settled:
    """``job`` (a stored job document) counted as settling with ``outcome`` at ``at``."""
    created = created_of(job)
    return Settled(
        job["_id"], job["config_id"], job.get("form_id"), job.get("workspace_id"), created, outcome, at, error
    )


def day_key(config_id: str, when: dt.datetime) -> str:
    """The ``_id`` of ``config_id``'s day document for ``when`` (naive or aware; read as UTC)."""
    return f"{config_id}:{_utc(when):%Y-%m-%d}"


def _utc(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when


def _epoch(when: dt.datetime) -> float:
    return _utc(when).replace(tzinfo=dt.UTC).timestamp()


def hour_field(hour: int, what: str) -> str:
    """The day document's field counting ``what`` in ``hour`` (0..23, UTC)."""
    return f"h{hour}_{what}"


def hour_fields(doc: dict[str, Any]) -> dict[int, dict[str, int]]:
    """A day document's counts by hour: {hour: {what: count}}."""
    found: dict[int, dict[str, int]] = {}
    for name, value in doc.items():
        cut = name.find("_")
        if name[0] == "h" and 1 < cut <= 3 and name[1:cut].isdigit():
            hour = int(name[1:cut])
            if (counts := found.get(hour)) is None:
                counts = found[hour] = {}
            counts[name[cut + 1 :]] = value
    return found


FIELD = {"completed": "completed", "failed": "failed", "cancelled": "cancelled", "retried": "retried"}


def day_ops(settled: Iterable[Settled], namespace: str | None = None) -> list[UpdateOne]:
    """One upsert per touched day document, adding up ``settled`` (``namespace``: for a client-level bulkWrite)."""
    docs: dict[str, dict[str, Any]] = {}
    for s in settled:
        created = _utc(s.created_at)
        key = day_key(s.config_id, created)
        doc = docs.setdefault(
            key,
            {
                "inc": {},
                "on_insert": {
                    "kind": "day",
                    "config_id": s.config_id,
                    "form_id": s.form_id,
                    "workspace_id": s.workspace_id,
                    "day": f"{created:%Y-%m-%d}",
                },
                "error": None,
            },
        )
        inc = doc["inc"]
        name = hour_field(created.hour, FIELD[s.outcome])
        inc[name] = inc.get(name, 0) + s.sign
        if (latency := s.latency) is not None:
            name = hour_field(created.hour, f"lat{latency_bucket(latency)}")
            inc[name] = inc.get(name, 0) + s.sign
        if (
            s.sign > 0
            and s.outcome in ("failed", "retried")
            and (doc["error"] is None or doc["error"][1] <= _epoch(s.at))
        ):
            doc["error"] = (s.error or "failed", _epoch(s.at))
    ops = []
    for key, doc in docs.items():
        update: dict[str, Any] = {"$inc": doc["inc"], "$setOnInsert": doc["on_insert"]}
        if doc["error"] is not None:
            update["$set"] = {"last_error": doc["error"][0][:500]}
            update["$max"] = {"last_error_at": doc["error"][1]}
        ops.append(UpdateOne({"_id": key}, update, upsert=True, namespace=namespace))
    return ops


def latest_ops(logs: Iterable[dict[str, Any]], namespace: str | None = None) -> list[UpdateOne]:
    """Per integration, its latest attempt of ``logs`` (execution log rows) as its ``latest`` document."""
    newest: dict[str, dict[str, Any]] = {}
    for log_doc in logs:
        cid = log_doc.get("config_id")
        if cid and (cid not in newest or newest[cid]["executed_at"] <= log_doc["executed_at"]):
            newest[cid] = log_doc
    return [
        UpdateOne(
            {"_id": cid},
            {
                "$set": {
                    "kind": "latest",
                    "status": doc.get("status"),
                    "executed_at": _epoch(doc["executed_at"]),
                    "error_message": (doc.get("error_message") or None),
                    "job_id": doc.get("job_id"),
                    "attempt": doc.get("attempt"),
                }
            },
            upsert=True,
            namespace=namespace,
        )
        for cid, doc in newest.items()
    ]


def record(settled: Iterable[Settled], logs: Iterable[dict[str, Any]] = ()) -> None:
    """Add ``settled`` to the rollups and note the latest of ``logs``: one bulk write (none if nothing)."""
    ops = day_ops(settled) + latest_ops(logs)
    if ops:
        collection().bulk_write(ops, ordered=True)


def start_counting() -> None:
    """Remember when counting began, once: the figures of jobs created before it are missing until
    ``flask rebuild-rollups`` runs (none are when the store had no job then)."""
    from app.models import PluginJob  # noqa: PLC0415 (models import the engine's records)

    coll = meta_collection()
    if coll.find_one({"_id": "delivery"}, {"_id": 1}) is not None:
        return
    had_jobs = PluginJob._get_collection().find_one({}, {"_id": 1}) is not None
    counted_from = dt.datetime.now(dt.UTC).timestamp() if had_jobs else None
    coll.update_one({"_id": "delivery"}, {"$setOnInsert": {"counted_from": counted_from}}, upsert=True)


def counted_from() -> dt.datetime | None:
    """Since when jobs are counted (naive UTC), or None when every job is."""
    doc = meta_collection().find_one({"_id": "delivery"}) or {}
    value = doc.get("counted_from")
    return None if value is None else dt.datetime.fromtimestamp(float(value), dt.UTC).replace(tzinfo=None)


# -- submissions ----------------------------------------------------------------------------------------------
# One document per form per UTC day of acceptance (``_id`` ``"<form_id>:<YYYY-MM-DD>"``), ``h<hour>_submitted``: how
# many submissions it accepted in that hour (deleted ones stay counted, as they were received).
SUBMITTED = "submitted"
SUBMISSIONS = "submission_rollups"


def submissions_collection() -> Collection:
    return database()[SUBMISSIONS]


def submission_ops(accepted: Iterable[tuple[str, str | None, dt.datetime]]) -> list[UpdateOne]:
    """One upsert per touched form-day for ``accepted`` (form id, workspace id, acceptance time)."""
    docs: dict[str, dict[str, Any]] = {}
    for form_id, workspace_id, when in accepted:
        at = _utc(when)
        key = f"{form_id}:{at:%Y-%m-%d}"
        doc = docs.setdefault(
            key,
            {
                "inc": {},
                "on_insert": {"form_id": form_id, "workspace_id": workspace_id, "day": f"{at:%Y-%m-%d}"},
            },
        )
        name = hour_field(at.hour, SUBMITTED)
        doc["inc"][name] = doc["inc"].get(name, 0) + 1
    return [
        UpdateOne({"_id": key}, {"$inc": d["inc"], "$setOnInsert": d["on_insert"]}, upsert=True)
        for key, d in docs.items()
    ]
