"""Live dispatch while a large backfill runs: paced submissions before and during a backfill of N old ones.

The old submissions are written straight into the store (as the intake writes them); the backfill is
started through the API, like an owner would; both runs are measured on the same app, back to back.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

from bson import ObjectId

from app.models import search_terms, utcnow
from bench.client import ApiClient, sample_data
from bench.harness import JOBS, Harness
from bench.load import paced

SUBMISSIONS = "submissions"


@dataclass
class BackfillLatency:
    backfill: int  # submissions the backfill goes through
    baseline_ms: list[float] = field(default_factory=list)  # 202 → delivery, no backfill
    during_ms: list[float] = field(default_factory=list)  # 202 → delivery, backfill running
    backfilled: int = 0  # done by the end of the second paced run
    backfill_per_second: float = 0.0


def seed_submissions(h: Harness, db: str, form_id: str, workspace_id: str, count: int, indexed: bool = False) -> None:
    """``count`` submissions straight into the store; ``indexed``: with their ``sort_key`` and search postings,
    as the intake and the indexer's pass leave them (else as stored before the search index existed)."""
    coll = h.mongo[db][SUBMISSIONS]
    start = utcnow() - dt.timedelta(days=365)
    for first in range(0, count, 5000):
        docs = [
            {"_id": ObjectId(), "form_id": form_id, "workspace_id": workspace_id, "data": sample_data(i),
             "revision": 1, "deleted": False, "created_at": start + dt.timedelta(seconds=i),
             "updated_at": start + dt.timedelta(seconds=i), "pending_events": [], "dispatch_pending": False}
            for i in range(first, min(count, first + 5000))
        ]
        if indexed:
            for doc in docs:
                doc.update(search_terms.search_fields(doc))
            terms = [p for doc in docs for p in search_terms.postings(doc)]
            for part in range(0, len(terms), 5000):
                h.mongo[db]["submission_terms"].insert_many(terms[part : part + 5000], ordered=False)
        coll.insert_many(docs)


def paced_latencies(
    h: Harness, url: str, db: str, form_id: str, refused: list[tuple[float, float]] | None = None
) -> list[float]:
    """Submissions at the paced rate to ``form_id``; each one's 202 → delivery at the sink, in ms. The form's
    jobs are then deleted, so that the next run counts its own. With ``refused``, a 503 answer is added to
    it (sent at, seconds) instead of failing the run."""
    run = paced(
        url, form_id, h.settings.dispatch_rate, h.settings.dispatch_seconds, refusals_ok=refused is not None
    )
    if refused is not None:
        refused += run.refused
    deadline = time.monotonic() + 60
    found: list[float] = []
    while time.monotonic() < deadline:
        arrivals = h.sink.arrivals()
        jobs = list(h.mongo[db][JOBS].find({"form_id": form_id}, {"idempotency_key": 1}))
        found = [
            (arrivals[j["idempotency_key"]] - run.accepted_at[str(j["_id"])]) * 1000
            for j in jobs
            if j.get("idempotency_key") in arrivals and str(j["_id"]) in run.accepted_at
        ]
        if len(found) >= run.count:
            break
        time.sleep(0.1)
    # (by id: nx-27017 walks the whole collection for a delete on any other field, and at the scale run's
    # 3,000,000 jobs that walk held the store while live submissions waited)
    ids = [job["_id"] for job in h.mongo[db][JOBS].find({"form_id": form_id}, {"_id": 1})]
    h.mongo[db][JOBS].delete_many({"_id": {"$in": ids}})
    return found


def _state(admin: ApiClient, op_id: str, timeout: float = 120.0) -> dict:
    """The operation as the API shows it (a 503 while the store is busy is asked again)."""
    deadline = time.monotonic() + timeout
    while True:
        resp = admin.http.get(f"{admin.base}/api/operations/{op_id}", timeout=30)
        if resp.status_code == 200:
            return resp.json()
        if time.monotonic() > deadline:
            raise RuntimeError(f"GET /api/operations/{op_id} answered {resp.status_code}: {resp.text[:200]}")
        time.sleep(0.2)


def dispatch_during_backfill(h: Harness, db: str, count: int) -> BackfillLatency:
    """Dispatch latency at the paced rate without, then with, a backfill of ``count`` submissions running."""
    app = h.start_app(db, scheduler=True)
    result = BackfillLatency(count)
    try:
        admin = h.admin(app)
        live_form, _ = admin.form_with_webhooks("Live", h.sink.url, 1)
        old_form, [old_hook] = admin.form_with_webhooks("Old", h.sink.url, 1)
        workspace = h.mongo[db]["forms"].find_one({"_id": ObjectId(old_form)})["workspace_id"]
        seed_submissions(h, db, old_form, workspace, count)
        h.sink.reset()
        result.baseline_ms = paced_latencies(h, app.url, db, live_form)
        op = admin.http.post(f"{admin.base}/api/plugin-configs/{old_hook}/backfill", json={}, timeout=60).json()
        started = time.monotonic()
        while _state(admin, op["id"]).get("done", 0) < 100:
            time.sleep(0.1)
        result.during_ms = paced_latencies(h, app.url, db, live_form)
        state = _state(admin, op["id"])
        result.backfilled = state["done"]
        result.backfill_per_second = state["done"] / (time.monotonic() - started)
        admin.http.post(f"{admin.base}/api/operations/{op['id']}/cancel", timeout=30)
        admin.close()
    finally:
        app.stop()
    return result
