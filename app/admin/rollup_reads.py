"""The pages' delivery figures, read from the rollups (engine.rollups) by ``_id``: a few documents per
integration and day, whatever the number of jobs; plus the jobs waiting or running now, read by an indexed
equality and capped at LIVE_CAP (past it the pages say "1000+").

Percentiles come from the rollups' latency histograms: approximate, within one bucket (about ±19 %).
Hours are UTC hours: in a zone whose offset is not whole hours, a bucket's edges are off by that fraction.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import g, has_request_context

from app.engine import rollups
from app.models import JobStatus, PluginJob

LIVE_CAP = 1000
PENDING, RUNNING = JobStatus.PENDING.value, JobStatus.RUNNING.value
_DOCS_PER_READ = 2000  # ids per ``$in`` read (30 days x 60 integrations)


@dataclass
class Slot:
    """One integration's jobs created in one UTC hour (``start``, aware), as they settled."""

    start: dt.datetime
    config_id: str
    form_id: str | None
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    retried: int = 0
    histogram: dict[int, int] = field(default_factory=dict)  # latency bucket -> delivered jobs


@dataclass
class LastError:
    text: str
    at: dt.datetime  # naive UTC


def histogram_percentile(histogram: Mapping[int, int], share: float) -> float | None:
    """Nearest-rank percentile (``share`` in 0..1) of the latencies a histogram holds, as its bucket's
    middle (engine.rollups.bucket_value); None when it holds none."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = max(1, math.ceil(share * total)), 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return rollups.bucket_value(index)
    return None  # unreachable


def _days(since: dt.datetime, until: dt.datetime) -> list[str]:
    first, last = since.astimezone(dt.UTC).date(), until.astimezone(dt.UTC).date()
    return [f"{first + dt.timedelta(days=i):%Y-%m-%d}" for i in range((last - first).days + 1)]


def _read(coll: Any, ids: list[str]) -> list[dict[str, Any]]:
    """The documents of ``ids`` that exist; within a request each is read once (a page asks for the last
    30 days, then 7 for the cards and 1 for the status counts)."""
    memo: dict[tuple[str, str], dict[str, Any] | None] = (
        g.setdefault("rollup_docs", {}) if has_request_context() else {}
    )
    todo = [i for i in ids if (coll.name, i) not in memo]
    for i in range(0, len(todo), _DOCS_PER_READ):
        part = todo[i : i + _DOCS_PER_READ]
        found = {doc["_id"]: doc for doc in coll.find({"_id": {"$in": part}})}
        memo.update({(coll.name, key): found.get(key) for key in part})
    return [doc for i in ids if (doc := memo.get((coll.name, i))) is not None]


def deliveries(
    config_ids: Iterable[str], since: dt.datetime, now: dt.datetime | None = None
) -> tuple[list[Slot], dict[str, LastError]]:
    """The hour slots of these integrations from ``since``'s hour (aware) on, and each one's last failed
    attempt since ``since``."""
    now = now or dt.datetime.now(dt.UTC)
    since_hour = since.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    ids = [f"{cid}:{day}" for cid in config_ids for day in _days(since, now)]
    slots: list[Slot] = []
    errors: dict[str, LastError] = {}
    for doc in _read(rollups.collection(), ids):
        day = dt.datetime.strptime(doc["day"], "%Y-%m-%d").replace(tzinfo=dt.UTC)
        for hour, counts in rollups.hour_fields(doc).items():
            start = day + dt.timedelta(hours=hour)
            if start < since_hour:
                continue
            slots.append(
                Slot(
                    start,
                    doc["config_id"],
                    doc.get("form_id"),
                    counts.get("completed", 0),
                    counts.get("failed", 0),
                    counts.get("cancelled", 0),
                    counts.get("retried", 0),
                    {int(k[3:]): v for k, v in counts.items() if k[:3] == "lat"},
                )
            )
        at = doc.get("last_error_at")
        if at is not None and float(at) >= since.timestamp():
            when = dt.datetime.fromtimestamp(float(at), dt.UTC).replace(tzinfo=None)
            known = errors.get(doc["config_id"])
            if known is None or known.at < when:
                errors[doc["config_id"]] = LastError(doc.get("last_error") or "failed", when)
    return slots, errors


def submissions(
    form_ids: Iterable[str], since: dt.datetime, now: dt.datetime | None = None
) -> list[tuple[dt.datetime, int]]:
    """Submissions accepted per UTC hour (start, aware; from ``since``'s hour on) by these forms."""
    now = now or dt.datetime.now(dt.UTC)
    since_hour = since.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    ids = [f"{fid}:{day}" for fid in form_ids for day in _days(since, now)]
    found = []
    for doc in _read(rollups.submissions_collection(), ids):
        day = dt.datetime.strptime(doc["day"], "%Y-%m-%d").replace(tzinfo=dt.UTC)
        for hour, counts in rollups.hour_fields(doc).items():
            start = day + dt.timedelta(hours=hour)
            if start >= since_hour:
                found.append((start, counts.get(rollups.SUBMITTED, 0)))
    return found


def latest(config_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each integration's latest attempt as the rollups keep it (keys as an execution log's), by config id;
    integrations with none recorded are absent."""
    found = {}
    for doc in _read(rollups.collection(), list(config_ids)):
        at = doc.get("executed_at")
        found[doc["_id"]] = {
            **doc,
            "executed_at": None
            if at is None
            else dt.datetime.fromtimestamp(float(at), dt.UTC).replace(tzinfo=None),
        }
    return found


@dataclass
class Live:
    """The jobs of some integrations waiting or running now (each list capped at LIVE_CAP)."""

    pending: list[dict[str, Any]]
    running: list[dict[str, Any]]
    capped: bool  # more than LIVE_CAP of either


def live(config_ids: Iterable[str]) -> Live:
    """Pending and running jobs of these integrations (status, config, creation, due time), by the
    ``(status, config_id)`` index, at most LIVE_CAP of each (one read per integration: their number, not
    the jobs', sets the cost)."""
    ids = list(config_ids)
    if not ids:
        return Live([], [], False)
    if has_request_context():  # a page asks several times (cards, troubles, counts): one read each
        memo = g.setdefault("live_jobs", {})
        key = tuple(sorted(ids))
        if key not in memo:
            memo[key] = _live(ids)
        return memo[key]
    return _live(ids)


def _live(ids: list[str]) -> Live:
    coll, capped = PluginJob._get_collection(), False
    fields = {"status": 1, "config_id": 1, "scheduled_for": 1, "created_at": 1}
    # Running jobs are few (the workers' slots): one read. Pending ones are read per integration by
    # equality, which the (status, config_id) index serves on both stores; ``$in`` on nx-27017 walks every
    # pending job of every workspace.
    query = coll.find({"status": RUNNING, "config_id": {"$in": ids}}, fields)
    running = list(query.limit(LIVE_CAP + 1).batch_size(LIVE_CAP + 1))  # one command
    pending: list[dict[str, Any]] = []
    for cid in ids:
        left = LIVE_CAP + 1 - len(pending)
        if left <= 0:
            break
        pending += coll.find({"status": PENDING, "config_id": cid}, fields).limit(left).batch_size(left)
    capped = len(running) > LIVE_CAP or len(pending) > LIVE_CAP
    return Live(pending[:LIVE_CAP], running[:LIVE_CAP], capped)
