"""Integrations in trouble, as the pages tell it: jobs that wait for more than their turn in the queue
(held by an open circuit, a retry's back-off or a rate limit) are *delayed*, an open circuit is said in
words, and the integrations failing or delayed now are listed first.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from bson import ObjectId

from app.admin import rollup_reads, stats
from app.engine.circuit import CLOSED, HALF_OPEN
from app.models import JobStatus, PluginConfig, as_datetime

PENDING = JobStatus.PENDING.value
DELAY_SLACK = 2.0  # seconds: a job due this soon is merely queued, not delayed
FAILED_DAYS = 7  # the "Failed jobs" counts and links cover this many days, as the executions page's default


def held(configs: Iterable[dict[str, Any]]) -> set[str]:
    """Ids of the configs (raw documents) whose circuit is not closed: their jobs wait for it."""
    return {str(c["_id"]) for c in configs if (c.get("circuit") or {}).get("state", CLOSED) != CLOSED}


def held_among(config_ids: Iterable[str]) -> set[str]:
    """``held`` for configs given by id."""
    oids = [ObjectId(i) for i in config_ids]
    return (
        held(PluginConfig._get_collection().find({"_id": {"$in": oids}}, {"circuit": 1})) if oids else set()
    )


def is_delayed(job: dict[str, Any], held_ids: set[str], now: float) -> bool:
    """A pending job held by its integration's circuit or due later than now (back-off, rate limit)."""
    return job.get("status") == PENDING and (
        job.get("config_id") in held_ids or float(job.get("scheduled_for") or 0) > now + DELAY_SLACK
    )


def delayed_counts(config_ids: Iterable[str]) -> Counter[str]:
    """How many jobs of each of these integrations are delayed now (whenever they were created), among the
    first rollup_reads.LIVE_CAP waiting."""
    ids = list(config_ids)
    if not ids:
        return Counter()
    held_ids, now = held_among(ids), time.time()
    return Counter(j["config_id"] for j in rollup_reads.live(ids).pending if is_delayed(j, held_ids, now))


def circuit_words(circuit: dict[str, Any] | None, zone: ZoneInfo) -> str | None:
    """An open circuit for people: "Paused after 11 failures in a row; next try at 12:23." (None: closed)."""
    c = circuit or {}
    state = c.get("state", CLOSED)
    if state == CLOSED:
        return None
    failures = c.get("failures", 0)
    paused = f"Deliveries paused after {failures} failure{'s' if failures != 1 else ''} in a row"
    if state == HALF_OPEN:
        return f"{paused}; one delivery is being tried now."
    next_try = c.get("next_trial_at")
    if next_try is None:
        return f"{paused}."
    moment = dt.datetime.fromtimestamp(float(next_try), dt.UTC).astimezone(zone)
    return f"{paused}; next try at {moment:%H:%M} ({zone.key})."


@dataclass
class Trouble:
    """An integration failing (its latest attempt failed, or it was switched off by failures) or delayed."""

    config: PluginConfig
    failing: bool
    error: str | None
    when: dt.datetime | None
    job_id: str | None
    circuit: str | None  # the circuit in words
    delayed: int  # jobs delayed now
    failed: int  # jobs failed in the last FAILED_DAYS days

    @property
    def label(self) -> str:
        if not self.config.enabled:
            return "disabled"
        return "failing" if self.failing else "delayed"


def troubles(form_ids: Iterable[str], zone: ZoneInfo) -> list[Trouble]:
    """The integrations of these forms failing now, then those only delayed; by name within each."""
    ids = list(form_ids)
    failing = {str(f.config.id): f for f in stats.failing_integrations(ids)}
    configs = list(PluginConfig.objects(form_id__in=ids).order_by("name"))
    delayed = delayed_counts(str(c.id) for c in configs)
    failed: Counter[str] = Counter()
    for slot in rollup_reads.deliveries([str(c.id) for c in configs], stats.window_start(FAILED_DAYS * 24))[
        0
    ]:
        failed[slot.config_id] += slot.failed
    found = []
    for cfg in configs:
        cid = str(cfg.id)
        words = circuit_words(cfg.circuit, zone)
        f = failing.get(cid)
        if f is None and not delayed[cid] and words is None:
            continue
        found.append(
            Trouble(
                cfg,
                f is not None,
                f.error if f else None,
                as_datetime(f.when) if f else None,
                f.job_id if f else None,
                words,
                delayed[cid],
                failed[cid],
            )
        )
    return sorted(found, key=lambda t: not t.failing)
