"""The measurements, one function each. Every app run is a fresh gunicorn process group on one database."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.models import as_datetime
from app.store.embedded import EmbeddedStore
from bench import peer_rq
from bench.harness import JOBS, Harness
from bench.history import seed_history
from bench.load import IntakeRun, flood, paced
from bench.procs import AppProcess, cpu_seconds
from bench.stats import cpu_text, percentile, rate
from bench.store_raw import raw_job_rate


@dataclass
class Preloaded:
    """Pending jobs created through the public intake with the scheduler off (the intake figure)."""

    intake: IntakeRun
    form_id: str
    config_ids: list[str]
    jobs: int


@dataclass
class Throughput:
    jobs: int
    seconds: float  # first to last delivery at the sink
    per_second: float
    failed: int
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU per job, by process kind

    def cpu_note(self) -> str:
        return cpu_text(self.cpu_ms)


def cpu_per_job(before: dict[str, float], after: dict[str, float], jobs: int, **more: float | None):
    """Milliseconds of CPU per job for each process kind, from two snapshots (and totals in ``more``)."""
    spent = {k: after[k] - before[k] for k in before}
    spent.update({k: v for k, v in more.items() if v is not None})
    return {k: v * 1000 / jobs for k, v in spent.items()} if jobs else {}


@dataclass
class Raw:
    per_second: float
    cpu_ms: dict[str, float]


@dataclass
class Dispatch:
    submissions: int
    sent_per_second: float
    sink_ms: list[float] = field(default_factory=list)  # 202 read by the client → request at the sink
    store_ms: list[float] = field(default_factory=list)  # job created_at → started_at (claimed)


@dataclass
class Recovery:
    jobs: int
    unfinished_at_kill: int
    seconds: float  # SIGKILL → every job completed (restart included)
    redelivered: int  # deliveries beyond one per job (at-least-once)
    failed: int


def preload(h: Harness, db: str, jobs: int, hooks: int, seed: int = 0) -> Preloaded:
    """Submit ceil(jobs / hooks) times to a form with ``hooks`` webhooks, scheduler off (no delivery
    competes with the intake). With ``seed``, that many finished jobs (copies of the new ones) and their
    logs are then written straight into the store."""
    app = h.start_app(db, scheduler=False)
    try:
        admin = h.admin(app)
        form_id, config_ids = admin.form_with_webhooks("Bench", h.sink.url, hooks)
        admin.close()
        submissions = math.ceil(jobs / hooks)
        before = {**h.cpu(), "app": app.cpu_now()}
        run = flood(app.url, form_id, submissions, h.settings.intake_concurrency)
        after = {**h.cpu(), "app": app.cpu_now()}
        run.cpu_ms = cpu_per_job(before, after, run.count)
        if seed:
            jobs_coll = h.mongo[db][JOBS]
            templates = [jobs_coll.find_one({"config_id": c}) for c in config_ids]
            seconds = seed_history(h.store.uri, db, seed, [t for t in templates if t])
            print(f"    seeded {seed:,} finished jobs and logs in {seconds:.0f} s", flush=True)
    finally:
        app.stop()
    return Preloaded(run, form_id, config_ids, submissions * hooks)


def throughput(h: Harness, db: str, jobs: int, env: dict[str, str] | None = None) -> Throughput:
    """Start an app with its scheduler on ``jobs`` pending jobs; time the deliveries at the sink."""
    h.sink.reset()
    before = h.cpu()
    app = h.start_app(db, scheduler=True, env=env)
    try:
        stats = h.wait_delivered(jobs, timeout=60 + jobs / 10)
        h.wait_drained(db, timeout=60)
    finally:
        app.stop()
    used = app.cpu_seconds and app.cpu_seconds - app.boot_cpu_seconds  # start-up left out
    cpu = cpu_per_job(before, h.cpu(), jobs, app=used)
    seconds = stats["last"] - stats["first"]
    return Throughput(jobs, seconds, rate(stats["unique"] - 1, seconds), h.count_status(db, "failed"), cpu)


def raw_store(h: Harness, db: str, rounds: int) -> Raw:
    """The store's raw per-job rate (bench/store_raw.py), with the store's CPU per raw job."""
    before = h.cpu()
    per_second = raw_job_rate(h.store.uri, db, rounds)
    after = h.cpu()
    return Raw(per_second, {"store": (after["store"] - before["store"]) * 1000 / rounds})


def dispatch(h: Harness, db: str, env: dict[str, str] | None = None) -> Dispatch:
    """Paced submissions to a live app; latency from each 202 to its delivery (and to its claim)."""
    s = h.settings
    app = h.start_app(db, scheduler=True, env=env)
    try:
        admin = h.admin(app)
        form_id, _ = admin.form_with_webhooks("Dispatch", h.sink.url, s.dispatch_hooks)
        admin.close()
        h.sink.reset()
        run = paced(app.url, form_id, s.dispatch_rate, s.dispatch_seconds)
        h.wait_delivered(len(run.accepted_at), timeout=60)
        arrivals = h.sink.arrivals()
        h.wait_drained(db, timeout=30)
    finally:
        app.stop()
    result = Dispatch(run.count, rate(run.count, run.seconds))
    fields = {"idempotency_key": 1, "created_at": 1, "started_at": 1}
    for job in h.mongo[db][JOBS].find({"form_id": form_id}, fields):
        accepted = run.accepted_at.get(str(job["_id"]))
        arrived = arrivals.get(job.get("idempotency_key", ""))
        if accepted is not None and arrived is not None:
            result.sink_ms.append((arrived - accepted) * 1000)
        created, started = as_datetime(job.get("created_at")), as_datetime(job.get("started_at"))
        if created and started:
            result.store_ms.append((started - created).total_seconds() * 1000)
    return result


def _redis(h: Harness) -> tuple[peer_rq.RedisServer | None, str]:
    """A throw-away redis-server for a peer run, or (None, why the peer is skipped)."""
    ok, why = peer_rq.rq_available()
    if not ok:
        return None, why
    binary, why = peer_rq.find_redis_server(h.settings.install_redis)
    if binary is None:
        return None, why
    return peer_rq.RedisServer(binary, h.workdir / "redis.log"), ""


def rq_peer(h: Harness, jobs: int, simple: bool = False) -> tuple[Throughput | None, str]:
    """RQ with ``rq_workers`` workers (forking, or ``simple``: SimpleWorker) on ``jobs`` pre-enqueued
    deliveries; (None, why) if skipped."""
    s = h.settings
    redis, why = _redis(h)
    if redis is None:
        return None, why
    try:
        peer_rq.enqueue(redis.url, h.sink.url, jobs)
        h.sink.reset()
        before = {"sink": h.cpu()["sink"], "redis": cpu_seconds(redis.proc.pid) or 0.0}
        workers = peer_rq.start_workers(redis.url, s.rq_workers, h.workdir / "rq.log", simple=simple)
        worker_cpu = None
        try:
            stats = h.wait_delivered(jobs, timeout=60 + jobs / 10)
        finally:
            # Every job is delivered: stop them now (a warm stop). Left to exit by themselves, SimpleWorkers
            # hang in their pub/sub thread's join at teardown until stop_workers' 15 s wait ran out.
            worker_cpu = peer_rq.stop_workers(workers, timeout=0)
        after = {"sink": h.cpu()["sink"], "redis": cpu_seconds(redis.proc.pid) or 0.0}
    finally:
        redis.stop()
    cpu = cpu_per_job(before, after, jobs, rq_workers=worker_cpu)
    seconds = stats["last"] - stats["first"]
    return Throughput(jobs, seconds, rate(stats["unique"] - 1, seconds), 0, cpu), ""


def _e2e_form(h: Harness, app: AppProcess) -> str:
    admin = h.admin(app)
    try:
        return admin.form_with_webhooks("End to end", h.sink.url, h.settings.e2e_hooks)[0]
    finally:
        admin.close()


def _posted(h: Harness, url: str, form_id: str, cpu: Callable[[], dict[str, float]]) -> IntakeRun:
    """``e2e_submissions`` posted by ``e2e_clients`` clients, with CPU per accepted submission."""
    s = h.settings
    before = cpu()
    run = flood(url, form_id, s.e2e_submissions, s.e2e_clients)
    run.cpu_ms = cpu_per_job(before, cpu(), run.count)
    return run


def _delivered(h: Harness, url: str, form_id: str, cpu: Callable[[], dict[str, float]]) -> Throughput:
    """Post the submissions and time until the sink has every delivery (from the first post)."""
    s = h.settings
    h.sink.reset()
    before, started = cpu(), time.time()
    flood(url, form_id, s.e2e_submissions, s.e2e_clients)
    stats = h.wait_delivered(s.e2e_submissions * s.e2e_hooks, timeout=60 + s.e2e_submissions / 10)
    used = cpu_per_job(before, cpu(), s.e2e_submissions)
    seconds = stats["last"] - started
    return Throughput(s.e2e_submissions, seconds, rate(s.e2e_submissions, seconds), 0, used)


def intake_alone(h: Harness, db: str) -> IntakeRun:
    """Our intake with nothing delivering (scheduler off), shaped like the end-to-end run."""
    app = h.start_app(db, scheduler=False)
    try:
        return _posted(h, app.url, _e2e_form(h, app), lambda: {**h.cpu(), "app": app.cpu_now()})
    finally:
        app.stop()


def end_to_end(h: Harness, db: str) -> Throughput:
    """Our app (scheduler on): post the submissions, time until the last delivery."""
    app = h.start_app(db, scheduler=True)
    try:
        result = _delivered(h, app.url, _e2e_form(h, app), lambda: {**h.cpu(), "app": app.cpu_now()})
        h.wait_drained(db, timeout=60)
    finally:
        app.stop()
    result.failed = h.count_status(db, "failed")
    return result


@dataclass
class Peer:
    intake: IntakeRun  # the peer's intake alone (no worker running)
    end_to_end: Throughput


def peer_end_to_end(h: Harness, db: str) -> tuple[Peer | None, str]:
    """The Flask + pymongo + RQ peer (bench/peer_app.py): its intake alone, then end to end with
    ``rq_workers`` SimpleWorkers; (None, why) if skipped."""
    s = h.settings
    redis, why = _redis(h)
    if redis is None:
        return None, why
    workers: list = []
    try:
        app = h.start_peer_app(db, redis.url)

        def cpu() -> dict[str, float]:
            return {
                **h.cpu(),
                "app": app.cpu_now(),
                "redis": cpu_seconds(redis.proc.pid) or 0.0,
                "rq_workers": sum(cpu_seconds(w.pid) or 0.0 for w in workers),
            }

        try:
            intake = _posted(h, app.url, "peer", cpu)
            redis.client.flushall()  # its jobs are not part of the end-to-end run
            workers = peer_rq.start_workers(
                redis.url, s.rq_workers, h.workdir / "rq.log", simple=True, burst=False
            )
            peer_rq.wait_workers(redis.url, s.rq_workers, timeout=60)
            delivered = _delivered(h, app.url, "peer", cpu)
        finally:
            peer_rq.stop_workers(workers, timeout=0)
            app.stop()
    finally:
        redis.stop()
    return Peer(intake, delivered), ""


def recovery(h: Harness, db: str, jobs: int, steady: float | None) -> Recovery:
    """SIGKILL the app (master and workers) while its jobs are pending/running; restart; time to done."""
    s = h.settings
    pre = preload(h, db, jobs, s.hooks)
    h.sink.reset()
    app = h.start_app(db, scheduler=True)
    h.wait_delivered(max(10, pre.jobs // 50), timeout=60)  # running, with leases held
    killed = time.monotonic()
    app.kill()
    unfinished = h.unfinished(db)
    budget = (unfinished / steady if steady else 60) + s.lease_seconds + 10
    app = h.start_app(db, scheduler=True)
    try:
        h.wait_delivered(pre.jobs, timeout=budget * 3 + 30)
        h.wait_drained(db, timeout=budget * 3 + 30)
        seconds = time.monotonic() - killed
    finally:
        app.stop()
    stats = h.sink.stats()
    return Recovery(
        pre.jobs, unfinished, seconds, stats["count"] - stats["unique"], h.count_status(db, "failed")
    )


@dataclass
class Outage:
    """Submissions to an app whose store was killed: the 503s answered once every worker knew."""

    sent: int
    refused_ms: list[float]  # latencies of the 503s sent once the outage was known
    other: int  # answers that were not a 503 (should be none)


def dead_store(h: Harness, db: str) -> Outage:
    """The store is SIGKILLed under paced submissions; how long a 503 takes once the outage is known."""
    s = h.settings
    store = EmbeddedStore(h.workdir / "outage-store").start()
    env = {**h.app_env(db, scheduler=True), "MONGODB_URI": store.uri}
    app = AppProcess(env, s.web_workers, h.workdir / "app-outage.log")
    try:
        app.start()
        admin = h.admin(app)
        form_id, _ = admin.form_with_webhooks("Outage", h.sink.url, 1)
        admin.close()
        store.kill()
        # Every request that finds the store gone waits DB_TIMEOUT_MS at most; after that, each worker knows.
        known = time.monotonic() + int(env.get("DB_TIMEOUT_MS", 3000)) / 1000 + 0.5
        run = paced(app.url, form_id, s.outage_rate, s.outage_seconds, refusals_ok=True)
    finally:
        app.stop()
        store.stop()
    refused = [seconds * 1000 for sent_at, seconds in run.refused if sent_at >= known]
    return Outage(run.count + len(run.refused), refused, run.count)


def latency_summary(values_ms: list[float]) -> tuple[float | None, float | None]:
    return percentile(values_ms, 50), percentile(values_ms, 99)
