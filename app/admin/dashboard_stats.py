"""The dashboard's numbers over a chosen range: submissions, delivery success and latency per bucket
(hours for 24 h, days otherwise, in the viewer's time zone), and a table per integration.

Delivery latency is the time from the event to its successful delivery (a job's creation to its
completion), so retries and queueing count, as the person waiting for the data sees it.

Everything comes from the rollups kept as jobs settle (engine.rollups, read in admin.rollup_reads), so a
load costs the same with a thousand jobs or millions; p50/p95 are read from latency histograms, within one
bucket (about ±19 %). Jobs are counted in the bucket of their creation; those waiting or running now come
from the job collection (capped). Jobs of a deleted integration are no longer shown.
"""

from __future__ import annotations

import bisect
import datetime as dt
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from app.admin import health, rollup_reads
from app.engine import rollups
from app.models import PluginConfig

RANGES = {
    "24h": ("24 hours", dt.timedelta(hours=24)),
    "7d": ("7 days", dt.timedelta(days=7)),
    "30d": ("30 days", dt.timedelta(days=30)),
}


@dataclass
class Deliveries:
    """Jobs of a bucket or an integration: how many, how many delivered, how fast."""

    volume: int = 0  # finished (delivered, failed, cancelled), plus those waiting or running now
    completed: int = 0
    failed: int = 0
    delayed: int = 0  # pending, held by an open circuit or a back-off (app.admin.health)
    histogram: Counter[int] = field(default_factory=Counter)  # latencies of delivered jobs (engine.rollups)

    def add_slot(self, slot: rollup_reads.Slot) -> None:
        """Add one hour of one integration's settled jobs."""
        self.volume += slot.completed + slot.failed + slot.cancelled
        self.completed += slot.completed
        self.failed += slot.failed
        for index, count in slot.histogram.items():
            self.histogram[index] += count

    def add_live(self, delayed: bool) -> None:
        """Add one job waiting or running now."""
        self.volume += 1
        self.delayed += delayed

    def merge(self, other: Deliveries) -> None:
        self.volume += other.volume
        self.completed += other.completed
        self.failed += other.failed
        self.delayed += other.delayed
        self.histogram.update(other.histogram)

    @property
    def counted(self) -> int:
        """The jobs the success rate is taken over: delivered, failed, and delayed (not delivered yet)."""
        return self.completed + self.failed + self.delayed

    @property
    def rate(self) -> float | None:
        return self.completed / self.counted if self.counted else None

    @property
    def p50(self) -> float | None:
        return rollup_reads.histogram_percentile(self.histogram, 0.5)

    @property
    def p95(self) -> float | None:
        return rollup_reads.histogram_percentile(self.histogram, 0.95)


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
    at = bisect.bisect_right(buckets, moment, key=lambda b: b.start)
    return buckets[at - 1] if at else None


@dataclass
class Overview:
    buckets: list[Bucket]
    integrations: list[IntegrationRow]
    live_capped: bool  # more jobs wait or run than were read (rollup_reads.LIVE_CAP)
    counted_from: dt.datetime | None  # jobs created before this (naive UTC) are missing (engine.rollups)


def overview(form_ids: Iterable[str], range_key: str, zone: ZoneInfo) -> Overview:
    """Buckets with submissions and deliveries, and one row per integration of these forms, from the
    rollups (a few documents per integration and day) and the jobs waiting or running now."""
    ids = list(form_ids)
    buckets = buckets_for(range_key, zone)
    since = buckets[0].start
    for start, count in rollup_reads.submissions(ids, since):
        if bucket := _locate(buckets, start):
            bucket.submissions += count
    configs = {str(c.id): c for c in PluginConfig.objects(form_id__in=ids).order_by("name")} if ids else {}
    rows = {cid: IntegrationRow(config=c) for cid, c in configs.items()}
    slots, errors = rollup_reads.deliveries(configs, since)
    for slot in slots:
        if bucket := _locate(buckets, slot.start):
            bucket.add_slot(slot)
        rows[slot.config_id].add_slot(slot)
    live = rollup_reads.live(configs)
    held_ids, now = health.held({"_id": cid, "circuit": c.circuit} for cid, c in configs.items()), time.time()
    for job in live.pending + live.running:
        created = job["_id"].generation_time
        if created < since:
            continue
        delayed = health.is_delayed(job, held_ids, now)
        if bucket := _locate(buckets, created):
            bucket.add_live(delayed)
        rows[job["config_id"]].add_live(delayed)
    for cid, error in errors.items():
        rows[cid].last_error, rows[cid].last_error_at = error.text, error.at
    begun = rollups.counted_from()
    missing = begun if begun is not None and begun > since.astimezone(dt.UTC).replace(tzinfo=None) else None
    return Overview(buckets, list(rows.values()), live.capped, missing)
