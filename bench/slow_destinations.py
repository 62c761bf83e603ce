"""Another workspace's dispatch latency while one workspace's destinations are slow (issue 21).

Workspace A's form has ``hooks`` webhooks to a destination that answers after ``seconds`` (the sink's
``/slow/<seconds>/`` paths); workspace B's form has one webhook to the sink, which answers at once. B's
submit-to-delivery latency is measured at the paced rate, then again while a background thread submits to
A's form at ``rate`` per second, on the same app, back to back. A's calls take every slot they are allowed;
B's must not wait for them.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from bench.bad_plugins import beside_submissions
from bench.client import ApiClient
from bench.harness import JOBS, Harness, Timeout


@dataclass
class SlowDestinationsLatency:
    hooks: int  # webhooks of workspace A's form, all to the slow destination
    seconds: float  # how long the slow destination takes to answer
    rate: float  # submissions per second to A's form
    baseline_ms: list[float] = field(default_factory=list)  # B: 202 → delivery, A idle
    during_ms: list[float] = field(default_factory=list)  # B: 202 → delivery, A's calls hanging
    submitted: int = 0  # to A's form
    refused: int = 0  # A's submissions that did not get their 202
    a_statuses: dict[str, int] = field(default_factory=dict)  # A's jobs by status at the end


def _forms(h: Harness, admin: ApiClient, hooks: int, seconds: float) -> tuple[str, str]:
    """Workspace A's form with ``hooks`` webhooks to the slow destination; workspace B's with one to the sink."""
    slow = admin.create_form("Slow destinations", admin.create_workspace("Bench A"))
    for n in range(hooks):
        admin.add_webhook(slow, f"{h.sink.slow_url(seconds)}/{n}", f"slow hook {n}")
    live = admin.create_form("Live", admin.create_workspace("Bench B"))
    admin.add_webhook(live, h.sink.url, "Live hook")
    return slow, live


def _wait_running(h: Harness, db: str, form_id: str, timeout: float = 30.0) -> None:
    """Until A's calls hang at the slow destination (a job of A's form is running)."""
    deadline = time.monotonic() + timeout
    while not h.mongo[db][JOBS].count_documents({"form_id": form_id, "status": "running"}, limit=1):
        if time.monotonic() > deadline:
            raise Timeout(f"no job of A's form running within {timeout:g} s")
        time.sleep(0.1)


def dispatch_beside_slow_destinations(
    h: Harness, db: str, hooks: int, seconds: float, per_second: float
) -> SlowDestinationsLatency:
    """B's dispatch latency at the paced rate, then again while A's form gets ``per_second`` submissions."""
    # JOB_TIMEOUT beyond the slow answer: A's calls succeed, slowly, rather than time out
    app = h.start_app(db, scheduler=True, env={"JOB_TIMEOUT": str(seconds + 5)})
    result = SlowDestinationsLatency(hooks, seconds, per_second)
    try:
        admin = h.admin(app)
        slow_form, live_form = _forms(h, admin, hooks, seconds)
        admin.close()
        h.sink.reset()
        result.baseline_ms, result.during_ms, submitter = beside_submissions(
            h, app.url, db, live_form, slow_form, per_second, lambda: _wait_running(h, db, slow_form)
        )
        result.submitted, result.refused = submitter.sent, submitter.refused
        statuses = h.mongo[db][JOBS].find({"form_id": slow_form}, {"status": 1, "last_error": 1})
        result.a_statuses = dict(Counter(job["status"] for job in statuses))
    finally:
        app.stop()
    return result
