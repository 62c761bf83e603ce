"""Read-side numbers for the pages: jobs by status, success rates, last runs, failing integrations.

Everything is scoped to a list of form ids (the forms the user can see). Counts of finished jobs come from
the rollups (engine.rollups, read by ``_id``), those waiting or running now from an indexed, capped read:
no page scans jobs or execution logs.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.admin import rollup_reads
from app.models import JobStatus, PluginConfig, PluginExecutionLog, as_datetime

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


def window_start(hours: int, now: dt.datetime | None = None) -> dt.datetime:
    """The start (aware UTC) of the last ``hours`` whole hours, the current one included: the rollups'
    hours (engine.rollups), as the dashboard's 24-hour range."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=hours - 1)


def jobs_by_status(form_ids: Iterable[str], hours: int = 24) -> dict[str, int]:
    """How many jobs are in each status, among those created in the last ``hours`` (whole hours): finished
    ones from the rollups, waiting and running ones as they are now (at most rollup_reads.LIVE_CAP)."""
    config_ids = configs_of(form_ids)
    since = window_start(hours)
    counts: Counter[str] = Counter()
    for slot in rollup_reads.deliveries(config_ids, since)[0]:
        counts.update(completed=slot.completed, failed=slot.failed, cancelled=slot.cancelled)
    live = rollup_reads.live(config_ids)
    counts.update(j["status"] for j in live.pending + live.running if j["_id"].generation_time >= since)
    return {s.value: counts.get(s.value, 0) for s in JobStatus}


def configs_of(form_ids: Iterable[str]) -> list[str]:
    """The ids of the integrations of these forms."""
    ids = list(form_ids)
    if not ids:
        return []
    return [str(c["_id"]) for c in PluginConfig._get_collection().find({"form_id": {"$in": ids}}, {"_id": 1})]


def success_rate(config_id: str, days: int = 7, held: bool = False) -> DayRate:
    """One integration's completed, failed and delayed jobs created in the last ``days`` days (whole hours;
    ``day`` is the first day), from the rollups and its waiting jobs now; ``held``: its circuit is not
    closed, so all its pending jobs wait for it."""
    from app.admin.health import is_delayed  # health reads this module's numbers

    since = window_start(days * 24)
    total = DayRate(since.date())
    for slot in rollup_reads.deliveries([config_id], since)[0]:
        total.completed += slot.completed
        total.failed += slot.failed
    held_ids, now = ({config_id} if held else set()), time.time()
    for job in rollup_reads.live([config_id]).pending:
        if job["_id"].generation_time >= since and is_delayed(job, held_ids, now):
            total.delayed += 1
    return total


def last_attempt(config_id: str) -> dict[str, Any] | None:
    """The latest attempt of an integration (status, executed_at, error_message, job_id, attempt), or None."""
    return last_attempts([config_id]).get(config_id)


def last_attempts(config_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``last_attempt`` of several integrations: from the rollups; for one they have not seen attempt yet
    (attempts made before the rollups existed, until ``flask rebuild-rollups``), its latest execution log."""
    ids = list(config_ids)
    found = rollup_reads.latest(ids)
    for cid in ids:
        if cid not in found and (log := _latest_log(cid)) is not None:
            found[cid] = log
    return found


def _latest_log(config_id: str) -> dict[str, Any] | None:
    return PluginExecutionLog._get_collection().find_one(
        {"config_id": {"$eq": config_id}},  # (the (config_id, executed_at) index, newest first)
        {"status": 1, "executed_at": 1, "error_message": 1, "job_id": 1, "attempt": 1},
        sort=[("executed_at", -1)],
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
    configs = list(PluginConfig.objects(form_id__in=list(form_ids)).order_by("name"))
    lasts = last_attempts(str(c.id) for c in configs if c.enabled or not c.disabled_reason)
    for cfg in configs:
        if not cfg.enabled and cfg.disabled_reason:
            result.append(Failing(cfg, cfg.disabled_reason, as_datetime(cfg.disabled_at), None))
            continue
        last = lasts.get(str(cfg.id))  # switched off while failing is still failing
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
