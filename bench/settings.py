"""Bench sizes and switches: defaults, ``--quick``, environment variables (BENCH_*) and flags."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


@dataclass(frozen=True)
class BenchSettings:
    jobs: int = 5000  # jobs per throughput run (pre-loaded through the API, 3 per submission)
    hooks: int = 3  # webhook configs on the intake/throughput form
    intake_concurrency: int = 8  # concurrent keep-alive clients of the intake
    dispatch_rate: float = 50.0  # paced submissions per second
    dispatch_seconds: float = 10.0
    dispatch_hooks: int = 1  # webhook configs on the dispatch-latency form
    raw_ops: int = 3000  # rounds of the raw store loop
    one_integration_jobs: int = 3000  # the drain of one integration's backlog (1 webhook per submission; 0: skip)
    one_integration_lease: float = 5.0  # LEASE_SECONDS of that drain
    history: int = 100_000  # finished jobs (and logs) written before the second throughput run
    recovery_jobs: int = 5000
    backfill: int = 100_000  # old submissions backfilled while the live dispatch latency is measured (0: skip)
    outage_rate: float = 20.0  # paced submissions per second while the store is dead
    outage_seconds: float = 10.0
    lease_seconds: float = 10.0
    web_workers: int = 2  # gunicorn workers (each runs a scheduler), as `make run`
    rq_workers: int = 2
    e2e_submissions: int = 2000  # end to end: submissions posted, ours and the Flask + RQ peer's
    e2e_clients: int = 4  # concurrent keep-alive clients of the end-to-end runs
    e2e_hooks: int = 1  # webhooks per submission in the end-to-end runs
    peer_threads: int = 4  # gunicorn threads per worker of the Flask + RQ peer
    rq: bool = True
    install_redis: bool = True  # try apt-get install redis-server when missing (root only)
    history_run: bool = True
    recovery: bool = True
    outage: bool = True
    isolation: bool = True  # the webhook plugin in worker processes: jobs/s against threads, dispatch latency
    isolation_jobs: int = 2000  # jobs per isolation throughput run (each mode)
    isolation_only: bool = False  # run the isolation runs alone
    bad_plugins: bool = True  # another workspace's dispatch latency while misbehaving plugins run (isolation)
    bad_plugins_rate: float = 2.0  # submissions per second to the bad plugins' form (6 jobs each)
    slow_destinations: bool = True  # another workspace's dispatch latency beside slow destinations (isolation)
    slow_hooks: int = 24  # workspace A's webhooks to the slow destination
    slow_seconds: float = 25.0  # how long the slow destination takes to answer
    slow_rate: float = 2.0  # submissions per second to workspace A's form
    step_rate: float = 20.0  # workflow runs started per second for the step-to-step overhead (0: skip)
    step_seconds: float = 4.0
    heavy_reads: int = 20_000  # submissions in the form a viewer searches and exports in a loop (0: skip)
    heavy_reads_only: bool = False  # run the heavy-reads run alone
    out: Path = RESULTS
    app_env: dict[str, str] = field(default_factory=dict)  # extra app settings for every app run


QUICK = BenchSettings(
    jobs=300,
    one_integration_jobs=300,
    dispatch_seconds=3.0,
    raw_ops=300,
    history=3000,
    e2e_submissions=200,
    recovery_jobs=300,
    backfill=2000,
    heavy_reads=1000,
    outage_seconds=5.0,
    isolation_jobs=300,
    lease_seconds=5.0,
)


def _env_overrides(base: BenchSettings) -> dict:
    """BENCH_<FIELD> environment variables, e.g. BENCH_JOBS=2000 BENCH_RQ=false."""
    found = {}
    for f in fields(base):
        raw = os.environ.get(f"BENCH_{f.name.upper()}")
        if raw is None:
            continue
        kind = type(getattr(base, f.name))
        if kind is dict:
            continue
        if kind is bool:
            found[f.name] = raw.strip().lower() in {"1", "true", "yes", "on"}
        else:
            found[f.name] = kind(raw)
    return found


def parse(argv: list[str] | None = None) -> BenchSettings:
    """Settings from (in rising priority) the defaults or --quick, BENCH_* variables, and flags."""
    parser = argparse.ArgumentParser(prog="python -m bench", description="Formhooks benchmark (make bench)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of every figure")
    parser.add_argument("--jobs", type=int, help="jobs per throughput run [5000]")
    parser.add_argument(
        "--one-integration-jobs", type=int, help="jobs of the one-integration drain [3000]; 0 skips"
    )
    parser.add_argument("--history", type=int, help="finished jobs seeded for the history run [100000]")
    parser.add_argument("--raw-ops", type=int, help="rounds of the raw store loop [3000]")
    parser.add_argument("--recovery-jobs", type=int, help="jobs pending when the app is killed [5000]")
    parser.add_argument("--backfill", type=int, help="submissions backfilled during a dispatch run [100000]; 0 skips")
    parser.add_argument("--dispatch-seconds", type=float, help="length of the paced run [10]")
    parser.add_argument("--dispatch-rate", type=float, help="paced submissions per second [50]")
    parser.add_argument("--dispatch-hooks", type=int, help="webhooks on the dispatch form [1]")
    parser.add_argument("--intake-concurrency", type=int, help="concurrent intake clients [8]")
    parser.add_argument("--web-workers", type=int, help="gunicorn workers [2]")
    parser.add_argument("--e2e-submissions", type=int, help="submissions of the end-to-end runs [2000]")
    parser.add_argument("--e2e-clients", type=int, help="HTTP clients of the end-to-end runs [4]")
    parser.add_argument("--e2e-hooks", type=int, help="webhooks per submission end to end [1]")
    parser.add_argument("--peer-threads", type=int, help="gunicorn threads per peer worker [4]")
    parser.add_argument("--lease-seconds", type=float, help="LEASE_SECONDS for every app run [10]")
    parser.add_argument("--no-rq", dest="rq", action="store_false", default=None, help="skip the RQ peers")
    parser.add_argument(
        "--no-install-redis",
        dest="install_redis",
        action="store_false",
        default=None,
        help="never apt-get install redis-server for the RQ peer",
    )
    parser.add_argument(
        "--no-history", dest="history_run", action="store_false", default=None, help="skip the history run"
    )
    parser.add_argument(
        "--no-recovery", dest="recovery", action="store_false", default=None, help="skip the crash run"
    )
    parser.add_argument(
        "--no-outage", dest="outage", action="store_false", default=None, help="skip the dead-store run"
    )
    parser.add_argument("--outage-seconds", type=float, help="length of the dead-store run [10]")
    parser.add_argument("--outage-rate", type=float, help="submissions per second to the dead store [20]")
    parser.add_argument(
        "--no-isolation", dest="isolation", action="store_false", default=None, help="skip the isolation runs"
    )
    parser.add_argument("--isolation-jobs", type=int, help="jobs per isolation throughput run [2000]")
    parser.add_argument(
        "--isolation-only",
        action="store_true",
        default=None,
        help="only the isolation runs (the other figures are reported as skipped)",
    )
    parser.add_argument(
        "--no-bad-plugins",
        dest="bad_plugins",
        action="store_false",
        default=None,
        help="skip the dispatch run beside misbehaving plugins (an isolation run)",
    )
    parser.add_argument(
        "--bad-plugins-rate", type=float, help="submissions per second to the bad plugins' form [2]"
    )
    parser.add_argument(
        "--no-slow-destinations",
        dest="slow_destinations",
        action="store_false",
        default=None,
        help="skip the dispatch run beside another workspace's slow destinations (an isolation run)",
    )
    parser.add_argument("--slow-hooks", type=int, help="workspace A's webhooks to the slow destination [24]")
    parser.add_argument("--slow-seconds", type=float, help="seconds the slow destination takes [25]")
    parser.add_argument("--slow-rate", type=float, help="submissions per second to workspace A's form [2]")
    parser.add_argument(
        "--heavy-reads", type=int, help="submissions searched and exported beside live traffic [20000]; 0 skips"
    )
    parser.add_argument("--step-rate", type=float, help="workflow runs per second, step-to-step overhead [20]; 0 skips")
    parser.add_argument("--step-seconds", type=float, help="length of the step-to-step run [4]")
    parser.add_argument(
        "--heavy-reads-only",
        action="store_true",
        default=None,
        help="only the heavy-reads run (the other figures are reported as skipped)",
    )
    parser.add_argument("--out", type=Path, help=f"results file [{RESULTS}]")
    parser.add_argument(
        "--env",
        dest="app_env",
        action="append",
        metavar="NAME=VALUE",
        help="an extra app setting for every app run, e.g. --env WORKER_THREADS=16 (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.app_env is not None:
        pairs = [item.partition("=") for item in args.app_env]
        if any(not name or not eq for name, eq, _ in pairs):
            parser.error("--env takes NAME=VALUE")
        args.app_env = {name: value for name, _, value in pairs}
    base = QUICK if args.quick else BenchSettings()
    flags = {k: v for k, v in vars(args).items() if k != "quick" and v is not None}
    return replace(base, **{**_env_overrides(base), **flags})
