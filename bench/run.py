"""Runs every phase and turns the measurements into figures with targets.

Runs that are compared with each other are measured back to back (store raw rate, jobs/s on the empty
store, jobs/s with history, the RQ peer), so that other load on the machine moves them alike: everything
they need is prepared first.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import phases
from bench.backfill import BackfillLatency, dispatch_during_backfill
from bench.bad_plugins import PLUGINS, BadPluginsLatency, dispatch_during_bad_plugins
from bench.harness import Harness
from bench.heavy_reads import READERS, HeavyReadsLatency, dispatch_during_heavy_reads
from bench.load import IntakeRun
from bench.report import Figure, Report, at_least, at_most
from bench.settings import BenchSettings
from bench.slow_destinations import SlowDestinationsLatency, dispatch_beside_slow_destinations
from bench.stats import cpu_text, percentile
from bench.step_overhead import StepOverhead, step_overhead

RSS_LIMIT_MB = 200
RSS_TOTAL_LIMIT_MB = 400  # one app with all its processes, plugin workers included
MAIN, HISTORY, ONE = "bench_main", "bench_history", "bench_one_integration"
THREADS, PROCESSES = {"PLUGIN_ISOLATION": "thread"}, {"PLUGIN_ISOLATION": "process"}


def _ms(seconds: list[float]) -> list[float]:
    return [s * 1000 for s in seconds]


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _over(a: float | None, b: float | None) -> float | None:
    """How much ``a`` exceeds ``b`` (a p99 beside a noisy neighbour against the same p99 alone)."""
    return a - b if a is not None and b is not None else None


@dataclasses.dataclass
class Results:
    intake: phases.Preloaded | None = None
    history_ready: phases.Preloaded | None = None
    one_ready: phases.Preloaded | None = None
    one_integration: phases.Throughput | None = None
    raw: phases.Raw | None = None
    steady: phases.Throughput | None = None
    history: phases.Throughput | None = None
    rq: phases.Throughput | None = None
    rq_skipped: str = ""
    rq_simple: phases.Throughput | None = None
    rq_simple_skipped: str = ""
    intake_alone: IntakeRun | None = None
    end_to_end: phases.Throughput | None = None
    peer: phases.Peer | None = None
    peer_skipped: str = ""
    dispatch: phases.Dispatch | None = None
    backfill: BackfillLatency | None = None
    recovery: phases.Recovery | None = None
    outage: phases.Outage | None = None
    in_threads: phases.Throughput | None = None  # the isolation runs: the webhook plugin in threads...
    in_processes: phases.Throughput | None = None  # ... and forced into worker processes
    dispatch_processes: phases.Dispatch | None = None
    bad_plugins: BadPluginsLatency | None = None  # another workspace's dispatch beside misbehaving plugins
    slow: SlowDestinationsLatency | None = None  # another workspace's dispatch beside slow destinations
    heavy_reads: HeavyReadsLatency | None = None  # another workspace's dispatch beside heavy searches/exports
    steps: StepOverhead | None = None  # workflow step-to-step overhead


class Bench:
    def __init__(self, settings: BenchSettings, workdir: Path):
        self.s = settings
        self.workdir = workdir
        self.report = Report(dataclasses.asdict(settings))
        if settings.app_env:
            self.report.notes.append(f"app settings overridden for every run: {settings.app_env}")
        self.got = Results()

    def phase(self, name: str, fn: Callable[[], Any]) -> Any:
        """Run one phase; a failure is recorded in the report and the bench goes on."""
        print(f"  {name} ...", flush=True)
        started = time.monotonic()
        try:
            result = fn()
        except Exception as exc:
            self.report.notes.append(f"{name} failed: {type(exc).__name__}: {exc}")
            with (self.workdir / "errors.log").open("a") as fh:
                fh.write(traceback.format_exc())
            print(f"    FAILED: {exc}", flush=True)
            return None
        print(f"    done in {time.monotonic() - started:.0f} s", flush=True)
        return result

    def run(self) -> Report:
        h = Harness(self.s, self.workdir)
        try:
            self.measure(h)
        finally:
            h.close()
        self.figures()
        self.report.add(
            Figure(
                "rss_peak_mb",
                "app process RSS, max (any gunicorn process, whole run)",
                h.rss.peak_mb if h.rss.samples else None,
                "MiB",
                f"≤ {RSS_LIMIT_MB} MiB",
                at_most(h.rss.peak_mb, RSS_LIMIT_MB),
                f"{h.rss.samples} samples of {len(h.rss.max_rss)} processes",
            )
        )
        total = h.rss.total_peak_mb if h.rss.samples else None
        self.report.add(
            Figure(
                "rss_total_mb",
                "app memory with all its processes (gunicorn, plugin workers; PSS), max",
                total,
                "MiB",
                f"≤ {RSS_TOTAL_LIMIT_MB} MiB",
                at_most(total, RSS_TOTAL_LIMIT_MB),
            )
        )
        return self.report

    def measure(self, h: Harness) -> None:
        s, got = self.s, self.got
        if s.isolation_only:
            self.report.notes.append("--isolation-only: every figure outside the isolation runs was skipped")
            self.measure_isolation(h)
            return
        if s.heavy_reads_only:
            self.report.notes.append("--heavy-reads-only: every figure outside the heavy-reads run was skipped")
            self.measure_heavy_reads(h)
            return
        got.intake = self.phase(
            f"intake: {s.jobs:,} jobs through the API", lambda: phases.preload(h, MAIN, s.jobs, s.hooks)
        )
        if s.history_run:
            got.history_ready = self.phase(
                f"history: {s.jobs:,} jobs through the API, {s.history:,} finished jobs written",
                lambda: phases.preload(h, HISTORY, s.jobs, s.hooks, seed=s.history),
            )
        if s.one_integration_jobs:
            got.one_ready = self.phase(
                f"one integration: {s.one_integration_jobs:,} jobs through the API (1 webhook each)",
                lambda: phases.preload(h, ONE, s.one_integration_jobs, 1),
            )
        got.raw = self.phase("store raw rate", lambda: phases.raw_store(h, "bench_raw", s.raw_ops))
        if got.intake:
            got.steady = self.phase(
                "completed jobs/s (empty store)", lambda: phases.throughput(h, MAIN, got.intake.jobs)
            )
        if got.history_ready:
            got.history = self.phase(
                f"completed jobs/s with {s.history:,} finished jobs",
                lambda: phases.throughput(h, HISTORY, got.history_ready.jobs),
            )
        if got.one_ready:
            lease = {"LEASE_SECONDS": str(s.one_integration_lease)}
            got.one_integration = self.phase(
                f"completed jobs/s, one integration's backlog, LEASE_SECONDS={s.one_integration_lease:g}",
                lambda: phases.throughput(h, ONE, got.one_ready.jobs, lease),
            )
        if s.rq:
            label = f"RQ peer ({s.rq_workers} SimpleWorkers)"
            peer = self.phase(label, lambda: phases.rq_peer(h, s.jobs, simple=True))
            got.rq_simple, got.rq_simple_skipped = peer if peer else (None, "failed; see the notes")
            label = f"RQ peer ({s.rq_workers} forking workers)"
            peer = self.phase(label, lambda: phases.rq_peer(h, s.jobs))
            got.rq, got.rq_skipped = peer if peer else (None, "failed; see the notes")
        n = f"{s.e2e_submissions:,} submissions, {s.e2e_clients} clients"
        got.intake_alone = self.phase(
            f"intake alone: {n}", lambda: phases.intake_alone(h, "bench_e2e_intake")
        )
        if s.rq:
            label = f"Flask + RQ peer: intake alone, then end to end ({n})"
            peer = self.phase(label, lambda: phases.peer_end_to_end(h, "bench_peer"))
            got.peer, got.peer_skipped = peer if peer else (None, "failed; see the notes")
        got.end_to_end = self.phase(f"end to end: {n}", lambda: phases.end_to_end(h, "bench_e2e"))
        got.dispatch = self.phase(
            f"dispatch latency at {s.dispatch_rate:g}/s", lambda: phases.dispatch(h, "bench_dispatch")
        )
        if s.step_rate:
            got.steps = self.phase(
                f"workflow step-to-step overhead at {s.step_rate:g} runs/s",
                lambda: step_overhead(h, "bench_steps", s.step_rate, s.step_seconds),
            )
        if s.backfill:
            got.backfill = self.phase(
                f"dispatch latency during a {s.backfill:,}-submission backfill",
                lambda: dispatch_during_backfill(h, "bench_backfill", s.backfill),
            )
        self.measure_heavy_reads(h)
        if s.isolation:
            self.measure_isolation(h)
        if s.recovery:
            steady = got.steady.per_second if got.steady else None
            got.recovery = self.phase(
                f"recovery: SIGKILL with {s.recovery_jobs:,} jobs",
                lambda: phases.recovery(h, "bench_recovery", s.recovery_jobs, steady),
            )
        if s.outage:
            got.outage = self.phase(
                f"dead store: {s.outage_rate:g} submissions/s", lambda: phases.dead_store(h, "bench_outage")
            )

    def measure_heavy_reads(self, h: Harness) -> None:
        s = self.s
        if s.heavy_reads:
            self.got.heavy_reads = self.phase(
                f"dispatch latency beside heavy searches and exports of {s.heavy_reads:,} submissions",
                lambda: dispatch_during_heavy_reads(h, "bench_heavy_reads", s.heavy_reads),
            )

    def measure_isolation(self, h: Harness) -> None:
        """The webhook plugin in threads, then forced into worker processes, back to back; then the
        dispatch latency with worker processes."""
        s, got, n = self.s, self.got, self.s.isolation_jobs
        ready = {
            mode: self.phase(
                f"isolation: {n:,} jobs through the API ({mode})",
                lambda mode=mode: phases.preload(h, f"bench_iso_{mode}", n, s.hooks),
            )
            for mode in ("thread", "process")
        }
        if ready["thread"] and ready["process"]:
            got.in_threads = self.phase(
                "jobs/s, plugin in threads", lambda: phases.throughput(h, "bench_iso_thread", n, THREADS)
            )
            got.in_processes = self.phase(
                "jobs/s, plugin in worker processes",
                lambda: phases.throughput(h, "bench_iso_process", n, PROCESSES),
            )
        got.dispatch_processes = self.phase(
            f"dispatch latency at {s.dispatch_rate:g}/s, plugin in worker processes",
            lambda: phases.dispatch(h, "bench_dispatch_process", PROCESSES),
        )
        if s.bad_plugins:
            got.bad_plugins = self.phase(
                f"dispatch latency beside misbehaving plugins ({s.bad_plugins_rate:g} submissions/s to them)",
                lambda: dispatch_during_bad_plugins(h, "bench_bad_plugins", s.bad_plugins_rate),
            )
        if s.slow_destinations:
            got.slow = self.phase(
                f"dispatch latency beside {s.slow_hooks} webhooks to a {s.slow_seconds:g} s destination "
                f"({s.slow_rate:g} submissions/s to them)",
                lambda: dispatch_beside_slow_destinations(
                    h, "bench_slow_destinations", s.slow_hooks, s.slow_seconds, s.slow_rate
                ),
            )

    # -- figures ---------------------------------------------------------------------------------------

    def figures(self) -> None:
        self._intake()
        self._throughput()
        self._dispatch()
        self._steps()
        self._backfill()
        self._rq()
        self._end_to_end()
        self._history()
        self._recovery()
        self._outage()
        self._isolation()
        self._bad_plugins()
        self._slow_destinations()
        self._heavy_reads()

    def _isolation(self) -> None:
        s, r, threads, processes = self.s, self.report, self.got.in_threads, self.got.in_processes
        skipped = "" if s.isolation else "skipped (--no-isolation)"
        label = "jobs/s, webhook plugin in threads (isolation run)"
        r.add(Figure("thread_jobs_per_s", label, threads and threads.per_second, "jobs/s", note=skipped))
        note = processes.cpu_note() if processes else skipped
        label = "jobs/s, webhook plugin in worker processes"
        r.add(Figure("process_jobs_per_s", label, processes and processes.per_second, "jobs/s", note=note))
        ratio = _ratio(processes and processes.per_second, threads and threads.per_second)
        label = "process-mode jobs/s ÷ thread-mode jobs/s"
        r.add(Figure("ratio_process_to_thread", label, ratio, "ratio", "≥ 70%", at_least(ratio, 0.7)))
        d = self.got.dispatch_processes
        p50, p99 = phases.latency_summary(d.sink_ms) if d else (None, None)
        label = "dispatch latency p50, plugin in worker processes"
        r.add(Figure("dispatch_process_p50_ms", label, p50, "ms", "≤ 20 ms", at_most(p50, 20), skipped))
        label = "dispatch latency p99, plugin in worker processes"
        r.add(Figure("dispatch_process_p99_ms", label, p99, "ms", "≤ 100 ms", at_most(p99, 100)))

    def _beside(self, key: str, what: str, b: Any, how: str, note: str = "") -> tuple[float | None, float | None]:
        """Another workspace's dispatch latency alone and beside a neighbour's ``what``: p50 and p99 of each,
        the p50 ratio (≤ 2×) and the p99's excess (≤ 1 s); returns both p99s."""
        r = self.report
        base50, base99 = phases.latency_summary(b.baseline_ms) if b else (None, None)
        during50, during99 = phases.latency_summary(b.during_ms) if b else (None, None)
        r.add(Figure(f"{key}_base_p50_ms", f"dispatch p50, other workspace, {what} idle", base50, "ms", note=how))
        r.add(Figure(f"{key}_base_p99_ms", f"dispatch p99, other workspace, {what} idle", base99, "ms"))
        label = f"dispatch p50, other workspace, {what} busy"
        r.add(Figure(f"{key}_during_p50_ms", label, during50, "ms", note=note))
        r.add(Figure(f"{key}_during_p99_ms", f"dispatch p99, other workspace, {what} busy", during99, "ms"))
        ratio = _ratio(during50, base50)
        label = f"dispatch p50 beside {what} ÷ idle"
        r.add(Figure(f"{key}_p50_ratio", label, ratio, "x", "≤ 2.0x", at_most(ratio, 2.0)))
        over = _over(during99, base99)
        label = f"dispatch p99 beside {what} − idle"
        r.add(Figure(f"{key}_p99_over_ms", label, over, "ms", "≤ 1000 ms", at_most(over, 1000)))
        return base99, during99

    def _bad_plugins(self) -> None:
        s, b = self.s, self.got.bad_plugins
        skipped = "" if s.isolation and s.bad_plugins else "skipped (--no-isolation or --no-bad-plugins)"
        how = b and (
            f"workspace B's webhook at {s.dispatch_rate:g}/s for {s.dispatch_seconds:g} s, before and while "
            f"workspace A's form ({', '.join(PLUGINS)}: third-party, in worker processes) got "
            f"{b.rate:g} submissions/s; {b.submitted} sent to A ({b.refused} refused)"
        )
        self._beside("bad_plugins", "bad plugins", b, how or skipped, (b and self._bad_plugins_note(b)) or "")

    def _slow_destinations(self) -> None:
        s, b = self.s, self.got.slow
        skipped = "" if s.isolation and s.slow_destinations else "skipped (--no-isolation or --no-slow-destinations)"
        how = b and (
            f"workspace B's webhook at {s.dispatch_rate:g}/s for {s.dispatch_seconds:g} s, before and while "
            f"workspace A's form ({b.hooks} webhooks to a destination answering after {b.seconds:g} s) got "
            f"{b.rate:g} submissions/s; {b.submitted} sent to A ({b.refused} refused); A's jobs at the end: "
            + ", ".join(f"{n} {status}" for status, n in sorted(b.a_statuses.items()))
        )
        self._beside("slow_dest", "slow destinations", b, how or skipped)

    def _heavy_reads(self) -> None:
        s, r, b = self.s, self.report, self.got.heavy_reads
        skipped = "" if s.heavy_reads else "skipped (--heavy-reads 0)"
        how = b and (
            f"workspace B's webhook at {s.dispatch_rate:g}/s for {s.dispatch_seconds:g} s, before and while "
            f"{READERS} viewers of workspace A searched and exported its {b.submissions:,}-submission form in a "
            f"loop; reads: " + ", ".join(f"{n}× {k}" for k, n in sorted(b.reads.items()))
        )
        read_p50 = percentile(b.read_seconds, 50) if b else None
        note = b and (
            f"A's reads to their last byte: p50 {read_p50 or 0:.2f} s, max {max(b.read_seconds, default=0):.2f} s; "
            "p50 by kind: "
            + ", ".join(f"{k} {percentile(v, 50) or 0:.2f} s" for k, v in sorted(b.kind_seconds.items()))
        )
        base99, during99 = self._beside("heavy_reads", "heavy reads", b, how or skipped, note or "")
        ratio = _ratio(during99, base99)
        label = "dispatch p99 beside heavy reads ÷ without"
        r.add(Figure("heavy_reads_p99_ratio", label, ratio, "x", "≤ 2.0x", at_most(ratio, 2.0)))
        unready = b and b.unready
        note = b and f"{b.unready} of {b.ready_checks} /readyz checks answered other than 200"
        label = "store circuit opened by heavy reads (readyz not 200)"
        r.add(Figure("heavy_reads_circuit_open", label, unready, "checks", "= 0", at_most(unready, 0), note or ""))

    @staticmethod
    def _bad_plugins_note(b: BadPluginsLatency) -> str:
        failed = "; ".join(f"{n}× {why}" for why, n in b.failures.most_common())
        restarts = ", ".join(f"{why} {n}" for why, n in sorted(b.restarts.items())) or "none"
        return f"A's jobs failed: {failed or 'none'}; {b.unfinished} still unfinished; worker restarts: {restarts}"

    @property
    def steady(self) -> float | None:
        return self.got.steady.per_second if self.got.steady else None

    def _intake(self) -> None:
        s, r = self.s, self.report
        run = self.got.intake.intake if self.got.intake else None
        note = f"{s.hooks} webhooks per form, {s.intake_concurrency} clients, SCHEDULER_ENABLED=false"
        if run and run.cpu_ms:
            note += "; " + cpu_text(run.cpu_ms, "request")
        rps = run and run.count / run.seconds
        r.add(Figure("intake_rps", "intake POST …/submissions", rps, "req/s", note=note))
        r.add(Figure("intake_p50_ms", "intake latency p50", run and percentile(_ms(run.latencies), 50), "ms"))
        r.add(Figure("intake_p99_ms", "intake latency p99", run and percentile(_ms(run.latencies), 99), "ms"))

    def _throughput(self) -> None:
        s, r, tp, raw = self.s, self.report, self.got.steady, self.got.raw
        note = tp and (
            f"{s.web_workers} gunicorn workers; first→last delivery {tp.seconds:.1f} s; "
            f"{tp.failed} failed; {tp.cpu_note()}"
        )
        label = f"completed jobs/s ({tp.jobs if tp else s.jobs:,} jobs)"
        r.add(Figure("jobs_per_s", label, self.steady, "jobs/s", note=note or ""))
        raw_rate = raw and raw.per_second
        note = raw and f"{s.raw_ops:,} rounds, one thread; store CPU per round {raw.cpu_ms['store']:.1f} ms"
        label = "store raw rate (insert, claim, log, complete)"
        r.add(Figure("raw_store_jobs_per_s", label, raw_rate, "jobs/s", note=note or ""))
        ratio = _ratio(self.steady, raw_rate)
        r.add(
            Figure("ratio_to_raw", "jobs/s ÷ store raw rate", ratio, "ratio", "≥ 70%", at_least(ratio, 0.7))
        )

    def _dispatch(self) -> None:
        s, r, d = self.s, self.report, self.got.dispatch
        p50, p99 = phases.latency_summary(d.sink_ms) if d else (None, None)
        sp50, sp99 = phases.latency_summary(d.store_ms) if d else (None, None)
        how = d and (
            f"{d.submissions} submissions sent at {d.sent_per_second:.1f}/s, {s.dispatch_hooks} webhook(s) "
            "each; from the 202 read by the client to the request at the sink"
        )
        label = "dispatch latency p50 (202 → delivery)"
        r.add(Figure("dispatch_p50_ms", label, p50, "ms", "≤ 15 ms", at_most(p50, 15), how or ""))
        label = "dispatch latency p99 (202 → delivery)"
        r.add(Figure("dispatch_p99_ms", label, p99, "ms", "≤ 100 ms", at_most(p99, 100)))
        r.add(Figure("dispatch_store_p50_ms", "job created_at → started_at p50", sp50, "ms"))
        r.add(Figure("dispatch_store_p99_ms", "job created_at → started_at p99", sp99, "ms"))

    def _steps(self) -> None:
        st, r = self.got.steps, self.report
        p50, p99 = phases.latency_summary(st.overhead_ms) if st else (None, None)
        how = st and (
            f"{len(st.overhead_ms)} two-step workflow runs ({st.failed} failed) started at {self.s.step_rate:g}/s; "
            "from step 1's attempt ending to step 2's attempt starting"
        )
        label = "workflow step-to-step overhead p50"
        r.add(Figure("step_overhead_p50_ms", label, p50, "ms", "≤ 20 ms", at_most(p50, 20), how or ""))
        label = "workflow step-to-step overhead p99"
        r.add(Figure("step_overhead_p99_ms", label, p99, "ms", "≤ 200 ms", at_most(p99, 200)))

    def _backfill(self) -> None:
        b, r = self.got.backfill, self.report
        if b is None:
            return
        base50, base99 = phases.latency_summary(b.baseline_ms)
        during50, during99 = phases.latency_summary(b.during_ms)
        how = (
            f"{self.s.dispatch_rate:g}/s for {self.s.dispatch_seconds:g} s on one app, before and while a backfill "
            f"of {b.backfill:,} old submissions ran ({b.backfilled:,} done, {b.backfill_per_second:.0f}/s)"
        )
        r.add(Figure("backfill_base_p50_ms", "dispatch p50 without backfill", base50, "ms", "", None, how))
        r.add(Figure("backfill_base_p99_ms", "dispatch p99 without backfill", base99, "ms"))
        r.add(Figure("backfill_during_p50_ms", "dispatch p50 during the backfill", during50, "ms"))
        r.add(Figure("backfill_during_p99_ms", "dispatch p99 during the backfill", during99, "ms"))
        ratio = _ratio(during50, base50)
        r.add(Figure("backfill_p50_ratio", "dispatch p50 during ÷ without", ratio, "x", "≤ 2.0x", at_most(ratio, 2.0)))

    def _rq(self) -> None:
        s, r = self.s, self.report
        for key, kind, tp, skipped, target in (
            ("rq_simple", "SimpleWorker", self.got.rq_simple, self.got.rq_simple_skipped, 1.2),
            ("rq", "forking worker", self.got.rq, self.got.rq_skipped, 1.0),
        ):
            if not s.rq:
                note = "skipped (--no-rq)"
            elif tp:
                note = f"{s.rq_workers} `rq worker` ({kind}) processes, {tp.jobs:,} jobs; {tp.cpu_note()}"
            else:
                note = f"skipped: {skipped}"
            label = f"RQ peer jobs/s ({s.rq_workers} {kind}s)"
            r.add(Figure(f"{key}_jobs_per_s", label, tp and tp.per_second, "jobs/s", note=note))
            ratio = _ratio(self.steady, tp and tp.per_second)
            label = f"jobs/s ÷ RQ {kind} jobs/s"
            r.add(Figure(f"ratio_to_{key}", label, ratio, "x", f"≥ {target:.2f}x", at_least(ratio, target)))
        one = self.got.one_integration
        skipped = "" if s.one_integration_jobs else "skipped (--one-integration-jobs 0)"
        note = one and (
            f"{one.jobs:,} jobs of one webhook, written by an app with its scheduler off, drained by "
            f"{s.web_workers} gunicorn workers with LEASE_SECONDS={s.one_integration_lease:g}; "
            f"first→last delivery {one.seconds:.1f} s; {one.failed} failed; {one.cpu_note()}"
        )
        label = "completed jobs/s, one integration's backlog written elsewhere"
        r.add(Figure("one_integration_jobs_per_s", label, one and one.per_second, "jobs/s", note=note or skipped))
        ratio = _ratio(one and one.per_second, self.got.rq_simple and self.got.rq_simple.per_second)
        label = "one integration's jobs/s ÷ RQ SimpleWorker jobs/s"
        r.add(Figure("ratio_one_integration_to_rq_simple", label, ratio, "x", "≥ 1.20x", at_least(ratio, 1.2)))

    def _end_to_end(self) -> None:
        s, r, got = self.s, self.report, self.got
        shape = f"{s.e2e_hooks} webhook(s) per submission, {s.e2e_clients} clients"
        peer_why = "skipped (--no-rq)" if not s.rq else f"skipped: {got.peer_skipped}"
        ours_in, ours = got.intake_alone, got.end_to_end
        peer_in, peer = (got.peer.intake, got.peer.end_to_end) if got.peer else (None, None)
        rps = ours_in and ours_in.count / ours_in.seconds
        note = f"{shape}; SCHEDULER_ENABLED=false; " + (
            cpu_text(ours_in.cpu_ms, "submission") if ours_in else ""
        )
        r.add(Figure("e2e_intake_rps", "intake alone", rps, "req/s", note=note))
        peer_rps = peer_in and peer_in.count / peer_in.seconds
        note = (
            f"Flask + pymongo + RQ, {s.web_workers} gunicorn workers × {s.peer_threads} threads; "
            + cpu_text(peer_in.cpu_ms, "submission")
            if peer_in
            else peer_why
        )
        r.add(Figure("peer_intake_rps", "peer intake alone", peer_rps, "req/s", note=note))
        ratio = _ratio(rps, peer_rps)
        r.add(Figure("ratio_intake", "intake ÷ peer intake", ratio, "x", "≥ 0.80x", at_least(ratio, 0.8)))
        note = ours and (
            f"{ours.jobs:,} submissions, {shape}; first post → last delivery {ours.seconds:.1f} s; "
            f"{ours.failed} failed; " + cpu_text(ours.cpu_ms, "submission")
        )
        label = "end to end: submissions delivered/s"
        r.add(Figure("e2e_per_s", label, ours and ours.per_second, "per s", note=note or ""))
        note = (
            f"+ {s.rq_workers} SimpleWorkers; first post → last delivery {peer.seconds:.1f} s; "
            + cpu_text(peer.cpu_ms, "submission")
            if peer
            else peer_why
        )
        r.add(Figure("peer_e2e_per_s", "peer end to end", peer and peer.per_second, "per s", note=note))
        ratio = _ratio(ours and ours.per_second, peer and peer.per_second)
        r.add(Figure("ratio_e2e", "end to end ÷ peer", ratio, "x", "≥ 1.00x", at_least(ratio, 1.0)))

    def _history(self) -> None:
        s, r, tp, steady = self.s, self.report, self.got.history, self.got.steady
        note = tp.cpu_note() if tp else ("" if s.history_run else "skipped")
        label = f"completed jobs/s with {s.history:,} finished jobs + logs"
        r.add(Figure("history_jobs_per_s", label, tp and tp.per_second, "jobs/s", note=note))
        ratio = _ratio(tp and tp.per_second, self.steady)
        note = ""
        if tp and steady and tp.cpu_ms and steady.cpu_ms:
            spent = sum(tp.cpu_ms.values()) / sum(steady.cpu_ms.values())
            note = f"CPU per job with history ÷ empty store: {spent:.0%} (all processes)"
        label = "history jobs/s ÷ empty-store jobs/s"
        r.add(Figure("ratio_history", label, ratio, "ratio", "≥ 80%", at_least(ratio, 0.8), note))

    def _recovery(self) -> None:
        s, r, rec = self.s, self.report, self.got.recovery
        if not s.recovery:
            r.add(Figure("recovery_s", "recovery after SIGKILL", None, "s", note="skipped"))
            return
        budget, target, note = None, "", ""
        if rec:
            if self.steady:
                budget = rec.unfinished_at_kill / self.steady + s.lease_seconds + 10
                target = f"≤ {budget:.0f} s ({rec.unfinished_at_kill:,}/{self.steady:.0f} + {s.lease_seconds:g} + 10)"
            note = (
                f"{rec.unfinished_at_kill:,} of {rec.jobs:,} unfinished at the kill; "
                f"LEASE_SECONDS={s.lease_seconds:g}; {rec.redelivered} deliveries repeated; {rec.failed} failed"
            )
        passed = at_most(rec.seconds, budget) if rec and budget else None
        label = "recovery: SIGKILL → all completed"
        r.add(Figure("recovery_s", label, rec and rec.seconds, "s", target, passed, note))

    def _outage(self) -> None:
        s, out = self.s, self.got.outage
        p99 = out and percentile(out.refused_ms, 99)
        note = "skipped" if not s.outage else ""
        if out:
            note = (
                f"store SIGKILLed; {out.sent} submissions at {s.outage_rate:g}/s to {s.web_workers} workers; "
                f"{len(out.refused_ms)} 503s after DB_TIMEOUT_MS + 0.5 s; {out.other} answers not 503"
            )
        label = "dead store: 503 latency p99 once known"
        self.report.add(Figure("outage_503_p99_ms", label, p99, "ms", "≤ 200 ms", at_most(p99, 200), note))


def run_bench(settings: BenchSettings, workdir: Path | None = None) -> Report:
    """Run the whole bench in ``workdir`` and return its report. By default a temporary folder, removed
    afterwards unless a phase failed (its logs are kept for a look)."""
    if workdir is not None:
        return Bench(settings, workdir).run()
    tmp = Path(tempfile.mkdtemp(prefix="formhooks-bench-"))
    report = Bench(settings, tmp).run()
    if any(" failed: " in n for n in report.notes):
        report.notes.append(f"logs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return report
