"""The scheduler's periodic passes besides claiming: one list, ``PASSES``, of (name, interval, function).

A new background pass is one line in ``PASSES``: its function gets the running ``Scheduler`` (its app, its
queue, ``wake()`` to start jobs it made due). The scheduler runs each pass on APScheduler at its interval,
skips it while the store is known to be down, and reports a store fault to the store's circuit; no error
ends a pass's schedule.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pymongo

from app import db
from app.engine import (
    alert_delivery,
    alerts,
    dispatch,
    host_steps,
    indexer,
    operations,
    retention,
    workflow_schedule,
)
from app.models.idempotency import purge_expired

INDEX_BUILD_SECONDS = 3600.0

if TYPE_CHECKING:
    from app.engine.scheduler import Scheduler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pass:
    """A periodic pass: ``run(scheduler)`` every ``every(settings)`` seconds (first at start if ``at_start``)."""

    name: str
    every: Callable[[Mapping[str, Any]], float]
    run: Callable[[Scheduler], Any]
    at_start: bool = False


class State:
    """What the passes remember between runs (one per scheduler)."""

    def __init__(self) -> None:
        self.started = False  # the first reap reports start-up recovery
        self.indexes_ok = False
        self.operation_progress = threading.Event()  # a job of a backfill or replay finished here
        self.retention: retention.Runner | None = None
        self.indexed_at = time.monotonic()  # the indexer's last pass (``index_submissions``)


def renew_leases(s: Scheduler) -> None:
    """Extend the leases of the jobs this process holds (nothing in flight: nothing asked of the store)."""
    job_ids = s.inflight_ids()
    if job_ids:
        s.queue.renew(job_ids)


def reap(s: Scheduler) -> None:
    """Requeue jobs whose lease expired: their process died."""
    requeued, failed = s.queue.reap_expired()
    if requeued or failed or not s.state.started:
        level = logging.WARNING if requeued or failed else logging.INFO
        log.log(
            level,
            "%srecovered %d jobs left running by stopped processes (%d were out of attempts and failed)",
            "" if s.state.started else "start-up: ",
            requeued,
            failed,
        )
        s.wake()
    s.state.started = True


def maintain(s: Scheduler) -> None:
    """Ensure indexes, purge expired idempotency keys, finish half-done dispatches."""
    cfg = s.app.config
    if not s.state.indexes_ok:
        # (an index new in this version is built over what the store holds: minutes at millions of jobs on
        # the embedded store, past any request's deadline, which a start-up's first try keeps to)
        with pymongo.timeout(INDEX_BUILD_SECONDS):
            db.ensure_indexes()
        s.state.indexes_ok = True
    purge_expired()
    if dispatch.sweep(cfg["MAX_ATTEMPTS"], cfg["SWEEP_MIN_AGE"], s.app):
        s.wake()


def run_operations(s: Scheduler) -> None:
    """Advance backfills and replays behind live jobs (engine/operations.py): a batch whenever an
    operation's jobs have drained below its in-flight limit, until the next interval."""
    cfg = s.app.config
    progress = s.state.operation_progress
    until = time.monotonic() + max(0.5, cfg["POLL_INTERVAL"] * 0.9)
    throttled: set[str | None] = set()  # operations that waited this interval: the next may not
    while not s.stopping and time.monotonic() < until:
        progress.clear()
        step = operations.step(
            s.owner,
            lease=cfg["LEASE_SECONDS"],
            batch_size=cfg["OPERATION_BATCH_SIZE"],
            inflight_limit=cfg["OPERATION_INFLIGHT"],
            idle_inflight_limit=cfg["OPERATION_INFLIGHT_IDLE"],
            max_attempts=cfg["MAX_ATTEMPTS"],
        )
        if step.done:
            s.wake()
        elif step.throttled and step.op_id not in throttled:
            throttled.add(step.op_id)  # it went behind the others: give the next one its turn now
        elif step.throttled:  # every operation waits: woken when one of their jobs finishes here
            progress.wait(min(0.2, max(0.0, until - time.monotonic())))
            throttled.clear()
        else:
            return


def check_alerts(s: Scheduler) -> None:
    """Raise failure alerts for broken integrations and send due daily digests (engine/alerts.py)."""
    if alerts.check(s.app.config) or alert_delivery.send_digests(s.app.config):
        s.wake()  # an alert channel's job may be waiting


INDEX_MAX_DEFER = 30.0  # seconds the indexer waits at most while deliveries are waiting


def index_submissions(s: Scheduler) -> None:
    """Write the search postings and results figures of new, edited and deleted submissions — after the
    deliveries: while due jobs wait for this process's threads (``Scheduler.deliveries_waiting``) the pass
    is skipped, for at most INDEX_MAX_DEFER s since it last ran. Its writes compete with the drain's on the
    store: 459 jobs/s with it, 559 without (bench/drain_ab.py). Search reads the unindexed tail meanwhile,
    so results stay complete; only the dashboard's figures lag. Past the bound it runs a whole pass, not a
    batch: a sustained backlog (slow destinations holding every slot) must not let submissions outpace it."""
    now = time.monotonic()
    if s.deliveries_waiting and now - s.state.indexed_at < INDEX_MAX_DEFER:
        return
    s.state.indexed_at = now
    indexer.run_pass()


def retain(s: Scheduler) -> None:
    """Start a retention pass in its own thread unless one still runs (engine/retention.py)."""
    if s.state.retention is None:
        s.state.retention = retention.Runner(s.guarded, s.app.config, lambda: s.stopping)
    s.state.retention.tick()


PASSES: list[Pass] = [
    Pass("renew", lambda cfg: max(0.5, cfg["LEASE_SECONDS"] / 3), renew_leases),
    # Expired leases are looked for every quarter lease, so a dead process's jobs wait about one lease.
    Pass("reap", lambda cfg: min(cfg["SWEEP_INTERVAL"], max(0.5, cfg["LEASE_SECONDS"] / 4)), reap, True),
    Pass("maintain", lambda cfg: cfg["SWEEP_INTERVAL"], maintain, True),
    Pass("operations", lambda cfg: cfg["POLL_INTERVAL"], run_operations),
    Pass("alerts", lambda cfg: cfg["ALERT_CHECK_INTERVAL"], check_alerts),
    Pass("indexer", lambda cfg: cfg["INDEX_INTERVAL"], index_submissions),
    Pass("retention", lambda cfg: cfg["RETENTION_INTERVAL"], retain),
    Pass("workflow-schedules", lambda cfg: cfg["WORKFLOW_SCHEDULE_INTERVAL"], workflow_schedule.check_schedules),
    Pass("workflow-runs", lambda cfg: cfg["SWEEP_INTERVAL"], workflow_schedule.repair_runs),
    Pass("workflow-files", lambda cfg: cfg["RETENTION_INTERVAL"], lambda s: host_steps.expire_files()),
]
