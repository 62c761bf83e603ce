"""Read-side numbers for the pages: jobs by status, success rates, last runs, failing integrations.

Everything is scoped to a list of form ids (the forms the user can see). Only equality lookups and short
scans over recent jobs: the embedded store scans whole collections for ranges, so windows stay small.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from app.models import JobStatus, PluginConfig, PluginExecutionLog, PluginJob, as_datetime, utcnow

FAILED_LOGS = ("failed", "timeout")


@dataclass
class DayRate:
    """Deliveries of one day (by the day their event happened): completed vs failed."""

    day: dt.date
    completed: int = 0
    failed: int = 0
    delayed: int = 0  # pending, held by an open circuit or a back-off: not delivered, and counted so

    @property
    def finished(self) -> int:
        return self.completed + self.failed + self.delayed

    @property
    def rate(self) -> float | None:
        return self.completed / self.finished if self.finished else None


def _since_id(when: dt.datetime) -> ObjectId:
    """Ids are time-ordered: ``_id >= this`` selects documents created since ``when``."""
    return ObjectId.from_datetime(when.replace(tzinfo=dt.UTC))


def recent_jobs(form_ids: Iterable[str], since: dt.datetime, **match: Any) -> list[dict[str, Any]]:
    """Status and creation time of the jobs of these forms created since ``since``."""
    ids = list(form_ids)
    if not ids:
        return []
    query = {"form_id": {"$in": ids}, "_id": {"$gte": _since_id(since)}, **match}
    return list(PluginJob._get_collection().find(query, {"status": 1, "config_id": 1}))


def jobs_by_status(form_ids: Iterable[str], hours: int = 24) -> dict[str, int]:
    """How many jobs are in each status, among those created in the last ``hours``."""
    counts = Counter(j["status"] for j in recent_jobs(form_ids, utcnow() - dt.timedelta(hours=hours)))
    return {s.value: counts.get(s.value, 0) for s in JobStatus}


def daily_success(form_ids: Iterable[str], days: int = 7) -> list[DayRate]:
    """Per day for the last ``days`` days (oldest first): completed and failed jobs."""
    today = utcnow().date()
    first = today - dt.timedelta(days=days - 1)
    buckets = {first + dt.timedelta(days=i): DayRate(first + dt.timedelta(days=i)) for i in range(days)}
    start = dt.datetime.combine(first, dt.time())
    for job in recent_jobs(form_ids, start):
        rate = buckets.get(job["_id"].generation_time.date())
        if rate is None:
            continue
        if job["status"] == JobStatus.COMPLETED.value:
            rate.completed += 1
        elif job["status"] == JobStatus.FAILED.value:
            rate.failed += 1
    return list(buckets.values())


def success_rate(config_id: str, days: int = 7, held: bool = False) -> DayRate:
    """One integration's completed, failed and delayed jobs over the last ``days`` days (``day`` is the
    first day); ``held``: its circuit is not closed, so all its pending jobs wait for it."""
    from app.admin.health import is_delayed  # health reads this module's numbers

    since = utcnow() - dt.timedelta(days=days)
    total = DayRate(since.date())
    query = {"config_id": config_id, "_id": {"$gte": _since_id(since)}}
    held_ids, now = ({config_id} if held else set()), time.time()
    for job in PluginJob._get_collection().find(query, {"status": 1, "config_id": 1, "scheduled_for": 1}):
        if job["status"] == JobStatus.COMPLETED.value:
            total.completed += 1
        elif job["status"] == JobStatus.FAILED.value:
            total.failed += 1
        elif is_delayed(job, held_ids, now):
            total.delayed += 1
    return total


def last_attempt(config_id: str) -> dict[str, Any] | None:
    """The latest execution log of an integration (raw document), or None."""
    return PluginExecutionLog._get_collection().find_one(
        {"config_id": config_id},
        {"status": 1, "executed_at": 1, "error_message": 1, "job_id": 1, "attempt": 1},
        sort=[("executed_at", -1), ("_id", -1)],
    )


@dataclass
class Failing:
    """An integration whose latest attempt failed (switched on or off), or that was disabled by a
    permanent failure."""

    config: PluginConfig
    error: str
    when: dt.datetime | None
    job_id: str | None


def failing_integrations(form_ids: Iterable[str]) -> list[Failing]:
    result = []
    for cfg in PluginConfig.objects(form_id__in=list(form_ids)).order_by("name"):
        if not cfg.enabled and cfg.disabled_reason:
            result.append(Failing(cfg, cfg.disabled_reason, as_datetime(cfg.disabled_at), None))
            continue
        last = last_attempt(str(cfg.id))  # switched off while failing is still failing
        if last and last["status"] in FAILED_LOGS:
            result.append(
                Failing(
                    cfg,
                    last.get("error_message") or "failed",
                    as_datetime(last["executed_at"]),
                    last["job_id"],
                )
            )
    return result


def circuit_state(raw_config: dict[str, Any]) -> str | None:
    """The circuit breaker state stored on a config document, when an engine feature writes one."""
    circuit = raw_config.get("circuit")
    if isinstance(circuit, dict):
        return circuit.get("state")
    return raw_config.get("circuit_state")
