"""Load generators for the public intake: as fast as possible, or paced at a fixed rate."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from bench.client import Unavailable, submit


@dataclass
class IntakeRun:
    """What a batch of submissions came to: per-request latencies and when each 202 arrived."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, request sent → 202 read
    accepted_at: dict[str, float] = field(default_factory=dict)  # job id -> time.time() of its 202
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU per request, by process kind (if measured)
    refusals_ok: bool = False  # a 503 is recorded in ``refused`` rather than failing the run
    refused: list[tuple[float, float]] = field(default_factory=list)  # (time.monotonic() sent, seconds)

    @property
    def count(self) -> int:
        return len(self.latencies)


def _worker(base_url: str, form_id: str, slots, run: IntakeRun, lock: threading.Lock) -> None:
    http = requests.Session()
    try:
        for i, not_before in slots:
            if not_before is not None:
                delay = not_before - time.monotonic()
                if delay > 0:
                    time.sleep(delay)  # pacing, not synchronisation
            sent, sent_at = time.perf_counter(), time.monotonic()
            try:
                jobs = submit(http, base_url, form_id, i)
            except Unavailable:
                if not run.refusals_ok:
                    raise
                with lock:
                    run.refused.append((sent_at, time.perf_counter() - sent))
                continue
            done = time.perf_counter()
            at = time.time()
            with lock:
                run.latencies.append(done - sent)
                for job_id in jobs:
                    run.accepted_at[job_id] = at
    finally:
        http.close()


def _run(
    base_url: str,
    form_id: str,
    count: int,
    concurrency: int,
    interval: float | None,
    refusals_ok: bool = False,
) -> IntakeRun:
    run, lock = IntakeRun(refusals_ok=refusals_ok), threading.Lock()
    start = time.monotonic()
    # Each worker takes every concurrency-th submission; a paced run gives each its due time.
    plans = [
        [(i, start + i * interval if interval else None) for i in range(w, count, concurrency)]
        for w in range(concurrency)
    ]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(_worker, base_url, form_id, plan, run, lock) for plan in plans]:
            future.result()
    run.seconds = time.perf_counter() - t0
    return run


def flood(base_url: str, form_id: str, count: int, concurrency: int) -> IntakeRun:
    """``count`` submissions as fast as ``concurrency`` keep-alive clients can send them."""
    return _run(base_url, form_id, count, concurrency, None)


def paced(
    base_url: str,
    form_id: str,
    per_second: float,
    seconds: float,
    concurrency: int = 8,
    refusals_ok: bool = False,
) -> IntakeRun:
    """Submissions at a steady ``per_second`` for ``seconds`` (spread over a few clients so a slow answer
    does not delay the next send). With ``refusals_ok``, 503 answers are recorded instead of failing."""
    count = max(1, int(per_second * seconds))
    return _run(base_url, form_id, count, concurrency, 1.0 / per_second, refusals_ok)
