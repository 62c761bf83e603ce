"""Workflow step-to-step overhead (issue 24): from one step's attempt ending to the next step's attempt
starting, at a paced rate of runs.

A form-event workflow of two webhook steps to the sink; submissions are posted at ``step_rate`` per second
for ``step_seconds``. For each run, the overhead is the second step's attempt start (its execution log's
``executed_at``) minus the end of the first step's attempt (``executed_at`` + ``duration_ms``): the result
written, the run moved on, the next job written and handed to a worker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from app.models import as_datetime
from bench.harness import Harness, Timeout
from bench.load import paced

RUNS = "workflow_runs"
LOGS = "plugin_execution_logs"


@dataclass
class StepOverhead:
    runs: int
    overhead_ms: list[float] = field(default_factory=list)
    failed: int = 0


def _workflow(h: Harness, admin: Any, form_id: str) -> str:
    steps = [
        {"name": f"hook{n}", "plugin_id": "webhook", "config": {"url": f"{h.sink.url}?step={n}"}}
        for n in (0, 1)
    ]
    body = {
        "name": "Steps",
        "status": "active",
        "trigger": {"type": "form_event", "form_id": form_id},
        "steps": steps,
    }
    return admin._post("/api/workflows", body)["id"]


def step_overhead(h: Harness, db: str, per_second: float, seconds: float) -> StepOverhead:
    """Two-step runs started at ``per_second`` for ``seconds``; each run's step-to-step overhead."""
    app = h.start_app(db, scheduler=True)
    try:
        admin = h.admin(app)
        form_id = admin.create_form("Step overhead")
        workflow_id = _workflow(h, admin, form_id)
        admin.close()
        run = paced(app.url, form_id, per_second, seconds)
        _wait_finished(h, db, workflow_id, run.count, timeout=60)
    finally:
        app.stop()
    return measured(h.mongo[db], workflow_id)


def _wait_finished(h: Harness, db: str, workflow_id: str, runs: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    coll = h.mongo[db][RUNS]
    while True:
        done = len(list(coll.find({"workflow_id": workflow_id, "status": {"$ne": "running"}}, {"_id": 1})))
        if done >= runs:
            return
        if time.monotonic() > deadline:
            raise Timeout(f"{done} of {runs} workflow runs finished in {timeout:.0f} s")
        time.sleep(0.1)


def measured(store: Any, workflow_id: str) -> StepOverhead:
    """The overhead of every finished run of ``workflow_id`` (its first attempt of each step)."""
    runs = list(store[RUNS].find({"workflow_id": workflow_id}, {"records": 1, "status": 1}))
    result = StepOverhead(len(runs), failed=sum(r["status"] != "succeeded" for r in runs))
    job_ids = [(r.get("records") or {}).get(f"hook{n}", {}).get("job_id") for r in runs for n in (0, 1)]
    first: dict[str, dict[str, Any]] = {}
    for doc in store[LOGS].find(
        {"job_id": {"$in": [j for j in job_ids if j]}},
        {"job_id": 1, "executed_at": 1, "duration_ms": 1, "attempt": 1},
    ):
        if doc.get("attempt", 1) == 1:
            first[doc["job_id"]] = doc
    for r in runs:
        records = r.get("records") or {}
        a, b = (first.get((records.get(f"hook{n}") or {}).get("job_id") or "") for n in (0, 1))
        if a is None or b is None:
            continue
        start_a, start_b = as_datetime(a["executed_at"]), as_datetime(b["executed_at"])
        if start_a is None or start_b is None:
            continue
        gap = (start_b - start_a).total_seconds() * 1000 - float(a.get("duration_ms") or 0)
        result.overhead_ms.append(gap)
    return result


if __name__ == "__main__":  # python -m bench.step_overhead [runs/s] [seconds]: this phase alone
    import sys
    import tempfile
    from pathlib import Path

    from bench.phases import latency_summary
    from bench.settings import QUICK

    rate_, secs = (float(a) for a in (sys.argv[1:3] if len(sys.argv) > 2 else ("20", "5")))
    with tempfile.TemporaryDirectory() as tmp:
        harness = Harness(QUICK, Path(tmp))
        try:
            got = step_overhead(harness, "bench_steps", rate_, secs)
        finally:
            harness.close()
    p50, p99 = latency_summary(got.overhead_ms)
    print(
        f"runs {got.runs} failed {got.failed} measured {len(got.overhead_ms)}: p50 {p50:.1f} ms p99 {p99:.1f} ms"
    )
