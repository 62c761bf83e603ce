"""The in-process scheduler: claims due jobs and hands them to the worker slots; runs the passes of
engine/housekeeping.py on APScheduler.

APScheduler's own job store is never used for PluginJobs (it cannot be shared between processes): the
poll claims due jobs from the job collection atomically and hands them to the worker slots, so any number
of processes can run a Scheduler against one database.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

import pymongo
from apscheduler.executors.pool import ThreadPoolExecutor as APThreadPool
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from app import signals
from app.engine import housekeeping, jobs
from app.engine.deadline import DeadlineRunner
from app.engine.queue import JobQueue
from app.engine.records import ConfigRecord, JobRecord
from app.engine.runner import JobRunner
from app.engine.slots import Slots, share_of, workspace_of
from app.engine.writer import ResultWriter
from app.services import services
from app.store_health import store_fault

log = logging.getLogger(__name__)

STOP_MARGIN = 1.0  # seconds a shutdown takes beyond SHUTDOWN_GRACE at most (store writes, thread hand-off)
OUTCOME_UNKNOWN = (
    "The process stopped while this attempt was running: it may have reached the destination. "
    "The job runs again when its lease expires, under the same idempotency key."
)


class Scheduler:
    """Claims due jobs and runs them; renews leases; reaps abandoned jobs; sweeps half-done dispatches."""

    def __init__(self, app: Flask, owner: str | None = None):
        self.app = app
        cfg = app.config
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.threads = int(cfg["WORKER_THREADS"])
        self.prefetch = self.threads * 2
        self.share = float(cfg["WORKSPACE_SHARE"])
        # Jobs in flight here (claimed, queued or running): a workspace holds at most its share of the
        # prefetch, an integration its share of that and twice INTEGRATION_CONCURRENCY (engine.slots runs at
        # most INTEGRATION_CONCURRENCY of them at once). Twice, as the prefetch is twice the threads: a
        # backlog of one integration is then claimed 4 jobs at a time, not 2 (one claim's reads and
        # compare-and-set per 2 jobs held that drain to 0.64-0.94x two RQ SimpleWorkers; bench/drain_ab.py).
        self.integration_limit = int(cfg["INTEGRATION_CONCURRENCY"])
        workspace_cap = share_of(self.prefetch, self.share)
        integration_cap = share_of(workspace_cap, self.share)
        if self.integration_limit > 0:
            integration_cap = min(integration_cap, 2 * self.integration_limit)
        self.queue = JobQueue(self.owner, cfg["LEASE_SECONDS"], integration_cap, workspace_cap)
        self.deadlines = DeadlineRunner(self.threads, int(cfg["MAX_ABANDONED_THREADS"]))
        found = services(app)
        registry, box = found.plugins, found.secrets
        self.writer = ResultWriter(services(app).inserts.submissions.group.atomic, busy_delay=0.05)
        self.runner = JobRunner(app, self.queue, registry, box, self.deadlines, self.writer)
        self._pool: Slots | None = None
        self._aps: BackgroundScheduler | None = None
        self._lock = threading.Lock()
        self._inflight: dict[Any, JobRecord] = {}  # job id -> claimed job
        self._polling = False
        self._passes = 0  # housekeeping passes running now (shutdown waits for them: see ``guarded``)
        self._dirty = False
        self._maybe_more = False  # the last claim filled every free slot: more work is probably waiting
        self._cap_bound = (
            False  # ... or it did not, but left due jobs because their integration was at its cap
        )
        self._handing_off: dict[Any, dict[str, Any]] = {}  # jobs stamped by claim_at_insert, not yet adopted
        self._stopping = False
        self._stopped = threading.Event()
        self.health = services(app).store_health  # the store's circuit, shared with the API of this process
        self.state = housekeeping.State()

    # -- lifecycle -------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._aps is not None and self._aps.running and not self._stopping

    def start(self) -> None:
        cfg = self.app.config
        host = services(self.app).plugin_host
        self._pool = Slots(
            self.threads,
            host.pool.size,
            self.share,
            lambda job: host.in_process(job["plugin_id"]),
            self._work,
            self.integration_limit,
        )
        self._aps = BackgroundScheduler(
            executors={"default": APThreadPool(4)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        # Two instances: a wake that lands while the last poll is returning must run, not be skipped
        # (poll's own flag keeps a second one from claiming alongside a running one).
        self._aps.add_job(self.poll, "interval", seconds=cfg["POLL_INTERVAL"], id="poll", max_instances=2)
        for task in housekeeping.PASSES:
            first = {"next_run_time": _now()} if task.at_start else {}
            self._aps.add_job(
                self._run_pass, "interval", args=[task], seconds=task.every(cfg), id=task.name, **first
            )
        signals.job_created.connect(self._on_job_created, sender=self.app)
        self._aps.start()
        services(self.app).plugin_host.warm()  # plugin worker processes, when any plugin runs in one
        atexit.register(self.shutdown)
        log.info("scheduler %s started with %d worker threads", self.owner, self.threads)

    def shutdown(self, grace: float | None = None) -> None:
        """Stop claiming and give in-flight jobs and housekeeping passes up to ``grace`` s (SHUTDOWN_GRACE)
        to finish (a pass left running would use the store after its app is gone). Then release
        the claimed jobs whose attempt has not started, and record those whose call is still running as
        "outcome unknown" (they keep their lease: it may have reached the destination). Returns within
        ``grace`` + STOP_MARGIN s, whatever the store and the plugins are doing; a second call waits for
        the first."""
        if self._aps is None:
            return
        grace = self.app.config["SHUTDOWN_GRACE"] if grace is None else grace
        with self._lock:
            first = not self._stopping
            self._stopping = True
        if not first:
            self._stopped.wait(grace + STOP_MARGIN)
            return
        signals.job_created.disconnect(self._on_job_created, sender=self.app)
        self._aps.shutdown(wait=False)
        deadline = time.monotonic() + grace
        while (self._inflight or self._polling or self._passes) and time.monotonic() < deadline:
            time.sleep(0.05)
        with pymongo.timeout(STOP_MARGIN / 2):  # the store gets this long, hung or not
            self.writer.flush(timeout=STOP_MARGIN / 2)
            released, unknown = self._let_go()
        if self._pool:
            self._pool.shutdown()
        self.deadlines.shutdown()
        # Plugin worker processes are killed: a call in one ends here (its job is "outcome unknown").
        services(self.app).plugin_host.shutdown(kill=True)
        self.writer.close(timeout=0.1)
        self._stopped.set()
        log.info(
            "scheduler %s stopped; %d unfinished jobs released, %d left running with their outcome unknown",
            self.owner,
            released,
            unknown,
        )

    @property
    def busy(self) -> bool:
        """Threads of this scheduler are still in jobs (after a shutdown: calls that overran the grace)."""
        return bool(self._inflight) or self.deadlines.abandoned > 0

    @property
    def delivering(self) -> bool:
        """Jobs are claimed or running in this process now: heavy admin reads rest while they are
        (app.admin.export.paced), as they share this process's GIL and the store with them."""
        return bool(self._inflight)

    def _let_go(self) -> tuple[int, int]:
        """Release the claimed jobs not started yet; mark those started as "outcome unknown"."""
        with self._lock:
            left = list(self._inflight.values())
        released = unknown = 0
        for job in left:
            try:
                if self._pool is not None and self._pool.cancel(job["_id"]):  # never started: nothing was sent
                    released += self.queue.release(job)
                else:
                    unknown += self.runner.outcome_unknown(job, OUTCOME_UNKNOWN)
            except Exception as exc:
                if store_fault(exc) is None:
                    raise
                break  # the store did not answer: their leases will expire and another scheduler will take them
        return released, unknown

    # -- polling ---------------------------------------------------------------------------------------

    def _on_job_created(
        self, sender: Flask, running: bool = False, config_id: str | None = None, **_: Any
    ) -> None:
        """Claim a new job the hand-off did not take (prefetch full, integration backlogged) now, not at the
        next poll: dispatch p99 13 ms with it, 635 (551–764) without, 1,049 without hand-off either
        (bench/onoff.py, 3 interleaved rounds)."""
        if running:  # a job handed off to this process at creation needs no claim
            return
        with self._lock:  # nor does one whose integration runs its cap here: a claim could not take it
            capped = (
                self._cap_bound and self._running_per_config()[config_id or ""] >= self.queue.integration_cap
            )
        if not capped:
            self.wake()

    def wake(self) -> None:
        """Poll now rather than at the next interval. A wake during a poll makes that poll go round again."""
        with self._lock:
            self._dirty = True
            if self._polling or self._aps is None or self._stopping:
                return
        with contextlib.suppress(JobLookupError, SchedulerNotRunningError):  # shutting down
            self._aps.modify_job("poll", next_run_time=_now())

    @property
    def deliveries_waiting(self) -> bool:
        """Whether due jobs were left waiting at this process's last claim (it filled every free slot, or
        their integration was at its cap): what the scheduler already knows, no store read."""
        return self._maybe_more

    def free_slots(self) -> int:
        if self.deadlines.saturated:
            return 0
        return self.prefetch - len(self._inflight)

    def poll(self) -> int:
        """Claim and start due jobs until none are left or the pool is full. Returns how many started."""
        with self._lock:
            if self._polling or self._stopping or self.health.down:
                return 0
            self._polling = True
        started = 0
        try:
            while True:
                with self._lock:
                    self._dirty = False
                limit = self.free_slots()
                with self._lock:
                    running, backlog = self._running_per_config(), self._cap_bound
                    workspaces = self._inflight_per_workspace()
                jobs = self.queue.claim(limit, running, backlog, workspaces) if limit > 0 else []
                configs = self.runner.load_configs(jobs) if jobs else {}
                for job in jobs:
                    self._submit(job, configs.get(job["config_id"]))
                started += len(jobs)
                with self._lock:
                    # a full batch, or jobs left waiting for their integration's cap: look again when one ends.
                    # No free slot, no claim: what the last claim left waiting still waits (cleared here, the
                    # refill's wake was lost and the threads idled until the next interval's poll).
                    if limit > 0:
                        full = bool(jobs) and len(jobs) == limit
                        self._cap_bound = not full and self.queue.waiting_for_cap > 0
                        self._maybe_more = full or self._cap_bound
                    more = (bool(jobs) and self._maybe_more) or self._dirty
                    if not more or self._stopping or self.free_slots() <= 0:
                        self._polling = False
                        return started
        except Exception as exc:
            if not self._store_failed(exc):
                log.exception("poll failed")
        with self._lock:
            self._polling = False
        return started

    def _refill_level(self) -> int:
        """Claim again once this many jobs or fewer are in flight: half of what a claim could fill, so that
        claims come in batches (each costs a read per integration and a write) while the threads stay busy.
        Under integration caps that is half the caps of the integrations that have a backlog (hold the lock)."""
        reachable = self.prefetch
        if self._cap_bound:
            reachable = min(reachable, self.queue.integration_cap * max(1, len(self.queue.backlogged)))
        return reachable // 2

    def _inflight_per_workspace(self) -> Counter[str]:
        """This process's jobs in flight per workspace: what the workspace cap counts (hold the lock)."""
        return Counter(workspace_of(job) for job in self._inflight.values())

    def _running_per_config(self) -> Counter[str]:
        """This process's running jobs per integration: what the integration cap counts (hold the lock)."""
        return Counter(job["config_id"] for job in self._inflight.values())

    def _submit(self, job: JobRecord, config: ConfigRecord | None) -> None:
        assert self._pool is not None
        with self._lock:  # (one step: a stop in between would find it neither queued nor running)
            self._inflight[job["_id"]] = job
            self._pool.submit(job, config)

    def _work(self, job: JobRecord, config: ConfigRecord | None) -> None:
        try:
            self.runner.run(job, config)
        except Exception as exc:  # a store fault: the lease will expire and the job will be retried
            if not self._store_failed(exc):
                log.exception("job %s crashed the runner", job["_id"])
        finally:
            if job.get("operation_id"):
                self.state.operation_progress.set()
            with self._lock:
                self._inflight.pop(job["_id"], None)
                refill = self._maybe_more and len(self._inflight) <= self._refill_level()
            if refill and not self._stopping:
                self.wake()

    # -- hand-off: jobs created in this process, claimed as they are written ----------------------------

    def claim_at_insert(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Stamp a claim by this process on the new job documents ``docs`` it has room for, so that they
        are written already claimed and start without a claim's round trips (a claim costs a read and a
        compare-and-set). Returns the stamped ones; pass them to ``adopt`` once written.

        What it buys (bench/onoff.py, 3 interleaved rounds): dispatch p50 -0.7 ms (the delivery lands before
        the client has read the 202) against 10 (5–13) with the wake's claim alone, p99 13 against 474
        (434–993) ms.

        Room is what a claim would give them: a free place in the prefetch, within the job's workspace
        share and integration cap. A job of an integration with a backlog in the store waits its turn
        there, behind that integration's older jobs. If this process dies, the stamped jobs' leases expire
        and they are reaped like any claimed job.
        """
        with self._lock:
            if self._pool is None or self._stopping or self.health.down or self.deadlines.saturated:
                return []
            cap, workspace_cap = self.queue.integration_cap, self.queue.workspace_cap
            held = [*self._inflight.values(), *self._handing_off.values()]
            running = Counter(job["config_id"] for job in held)  # the caps hold for handed-off jobs too
            workspaces = Counter(workspace_of(job) for job in held)
            room = self.prefetch - len(held)
            taken: list[dict[str, Any]] = []
            for doc in docs:
                if (
                    len(taken) >= room
                    or (cap > 0 and running[doc["config_id"]] >= cap)
                    or (workspace_cap > 0 and workspaces[workspace_of(doc)] >= workspace_cap)
                    or doc["config_id"] in self.queue.backlogged
                ):
                    continue
                taken.append(doc)
                running[doc["config_id"]] += 1
                workspaces[workspace_of(doc)] += 1
            self._handing_off.update((doc["_id"], doc) for doc in taken)
        if taken:
            claim = self.queue.claim_fields(uuid.uuid4().hex, time.time(), taken[0]["created_at"])
            for doc in taken:
                jobs.claim_at_insert(doc, claim)
        return taken

    def adopt(
        self, taken: list[dict[str, Any]], written: set[Any], configs: dict[str, dict], read_at: float
    ) -> None:
        """Run the jobs ``claim_at_insert`` stamped whose ids are in ``written`` (the others were not
        written: their event's jobs existed already). ``configs``: their config documents by id, read at
        ``read_at`` (``time.monotonic()``)."""
        jobs = [doc for doc in taken if doc["_id"] in written]
        loaded = self.runner.as_loaded(configs.values(), read_at)
        for job in jobs:
            if self._stopping:  # too late to start: back to pending, attempt refunded
                self.queue.release(cast(JobRecord, job))
                continue
            self._submit(cast(JobRecord, job), loaded.get(job["config_id"]))
        with self._lock:  # (after they are in flight: the caps count them all along)
            for doc in taken:
                self._handing_off.pop(doc["_id"], None)

    # -- housekeeping ----------------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stopping

    def inflight_ids(self) -> list[Any]:
        """The ids of the jobs this process holds (claimed, queued or running)."""
        with self._lock:
            return list(self._inflight)

    def housekeep(self, name: str) -> None:
        """Run the pass ``name`` of engine/housekeeping.py now (APScheduler runs each at its interval)."""
        self._run_pass(next(task for task in housekeeping.PASSES if task.name == name))

    def _run_pass(self, task: housekeeping.Pass) -> None:
        self.guarded(task.name, lambda: task.run(self))

    def guarded(self, what: str, task: Callable[[], Any]) -> None:
        """Run ``task`` unless the store is known to be down (its probe tests recovery, not us) or this
        scheduler is stopping. A store fault is told to the store's circuit; no error ever kills the
        APScheduler job."""
        if self.health.down:
            return
        with self._lock:
            if self._stopping:  # (none starts once a shutdown has begun: it waits for those running)
                return
            self._passes += 1
        try:
            task()
        except Exception as exc:
            if not self._store_failed(exc):
                log.exception("%s failed", what)
        finally:
            with self._lock:
                self._passes -= 1

    def _store_failed(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the store did not answer (told to the store's circuit: only an unreachable
        store opens it and pauses this scheduler; a slow operation is retried at the next pass)."""
        fault = self.health.report(exc)
        if fault == "slow":
            log.warning("a store operation took too long (%s); trying again next time", type(exc).__name__)
        return fault is not None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _is_reloader_parent(app: Flask) -> bool:
    """The Flask reloader's watching process must not run a scheduler; only its child serves."""
    return (
        bool(app.debug)
        and os.environ.get("WERKZEUG_RUN_MAIN") != "true"
        and "FLASK_RUN_FROM_CLI" in os.environ
    )


def wake_scheduler(app: Flask) -> None:
    """Poll now in this process (after a manual retry, for instance); other processes poll on their own."""
    scheduler = services(app).scheduler
    if scheduler:
        scheduler.wake()


def init_app(app: Flask) -> None:
    if not app.config["SCHEDULER_ENABLED"] or _is_reloader_parent(app):
        return
    scheduler = Scheduler(app)
    services(app).scheduler = scheduler
    scheduler.start()
