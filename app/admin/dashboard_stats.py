"""The dashboard's numbers over a chosen range: submissions, delivery success and latency per bucket
(hours for 24 h, days otherwise, in the viewer's time zone), and a table per integration.

Delivery latency is the time from the event to its successful delivery (a job's creation to its
completion), so retries and queueing count, as the person waiting for the data sees it.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from bson import ObjectId

from app.admin import health
from app.admin.stats import FAILED_LOGS
from app.models import JobStatus, PluginConfig, PluginExecutionLog, PluginJob, Submission, as_datetime

RANGES = {
    "24h": ("24 hours", dt.timedelta(hours=24)),
    "7d": ("7 days", dt.timedelta(days=7)),
    "30d": ("30 days", dt.timedelta(days=30)),
}
COMPLETED, FAILED = JobStatus.COMPLETED.value, JobStatus.FAILED.value


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile of ``values`` (``share`` in 0..1); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass
class Deliveries:
    """Jobs finished in a bucket or by an integration: how many, how many delivered, how fast."""

    volume: int = 0
    completed: int = 0
    failed: int = 0
    delayed: int = 0  # pending, held by an open circuit or a back-off (app.admin.health)
    latencies: list[float] = field(default_factory=list)  # seconds, of delivered jobs

    def add(self, job: dict[str, Any], delayed: bool = False) -> None:
        self.volume += 1
        if delayed:
            self.delayed += 1
        if job["status"] == COMPLETED:
            self.completed += 1
            done, created = as_datetime(job.get("completed_at")), as_datetime(job.get("created_at"))
            if done and created:
                self.latencies.append(max(0.0, (done - created).total_seconds()))
        elif job["status"] == FAILED:
            self.failed += 1

    @property
    def counted(self) -> int:
        """The jobs the success rate is taken over: delivered, failed, and delayed (not delivered yet)."""
        return self.completed + self.failed + self.delayed

    @property
    def rate(self) -> float | None:
        return self.completed / self.counted if self.counted else None

    @property
    def p50(self) -> float | None:
        return percentile(self.latencies, 0.5)

    @property
    def p95(self) -> float | None:
        return percentile(self.latencies, 0.95)


@dataclass
class Bucket(Deliveries):
    start: dt.datetime = dt.datetime.min  # aware, in the viewer's zone
    label: str = ""
    submissions: int = 0


@dataclass
class IntegrationRow(Deliveries):
    config: PluginConfig | None = None
    last_error: str | None = None
    last_error_at: dt.datetime | None = None


def buckets_for(range_key: str, zone: ZoneInfo, now: dt.datetime | None = None) -> list[Bucket]:
    """Empty buckets covering the range, oldest first: hours for 24 h, the viewer's days otherwise."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    if range_key == "24h":
        last = now.replace(minute=0, second=0, microsecond=0)
        starts = [last - dt.timedelta(hours=i) for i in range(23, -1, -1)]
        return [Bucket(start=s, label=s.strftime("%H:00")) for s in starts]
    days = RANGES[range_key][1].days
    today = now.date()
    starts = [
        dt.datetime.combine(today - dt.timedelta(days=i), dt.time(), zone) for i in range(days - 1, -1, -1)
    ]
    return [Bucket(start=s, label=s.strftime("%a %d" if days <= 7 else "%d %b")) for s in starts]


def _locate(buckets: list[Bucket], moment: dt.datetime) -> Bucket | None:
    """The bucket holding ``moment`` (aware), or None when before the first."""
    found = None
    for bucket in buckets:
        if bucket.start <= moment:
            found = bucket
        else:
            break
    return found


def overview(
    form_ids: Iterable[str], range_key: str, zone: ZoneInfo
) -> tuple[list[Bucket], list[IntegrationRow]]:
    """Buckets with submissions and deliveries, and one row per integration of these forms."""
    ids = list(form_ids)
    buckets = buckets_for(range_key, zone)
    since = ObjectId.from_datetime(buckets[0].start.astimezone(dt.UTC))
    scope = {"form_id": {"$in": ids}, "_id": {"$gte": since}}
    for sub in Submission._get_collection().find(scope, {"_id": 1}):
        if bucket := _locate(buckets, sub["_id"].generation_time):
            bucket.submissions += 1
    configs = {str(c.id): c for c in PluginConfig.objects(form_id__in=ids).order_by("name")}
    rows = {cid: IntegrationRow(config=c) for cid, c in configs.items()}
    held_ids, now = health.held({"_id": cid, "circuit": c.circuit} for cid, c in configs.items()), time.time()
    fields = {"status": 1, "config_id": 1, "created_at": 1, "completed_at": 1, "scheduled_for": 1}
    for job in PluginJob._get_collection().find(scope, fields):
        delayed = health.is_delayed(job, held_ids, now)
        if bucket := _locate(buckets, job["_id"].generation_time):
            bucket.add(job, delayed)
        if row := rows.get(job.get("config_id")):
            row.add(job, delayed)
    for cid, row in rows.items():
        last = PluginExecutionLog._get_collection().find_one(
            {"config_id": cid, "status": {"$in": list(FAILED_LOGS)}, "_id": {"$gte": since}},
            {"error_message": 1, "executed_at": 1},
            sort=[("executed_at", -1), ("_id", -1)],
        )
        if last:
            row.last_error, row.last_error_at = (
                last.get("error_message") or "failed",
                as_datetime(last.get("executed_at")),
            )
    return buckets, list(rows.values())
