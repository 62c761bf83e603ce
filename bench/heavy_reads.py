"""Another workspace's dispatch latency while a viewer runs heavy searches and exports in a loop (issue 20).

Workspace A's form holds many submissions, written straight into the store as the intake and the indexer's
pass leave them (``sort_key`` and search postings). Two reader threads of A's loop over the heaviest admin
reads: a word search that matches nothing, an exact e-mail search, a field filter, a field filter whose word
is in every submission but never in that field (it tests the most candidates a page may), the dashboard, and
the CSV and JSON exports of the whole form (each read to its last byte). A read answered 429 (its
workspace's turn is taken: app/admin/read_gate.py) counts as such. Workspace B's webhook is measured at the paced rate before and during, on the same app, back to back.
A third thread asks ``/readyz`` throughout: a slow read must never look like an outage (the store circuit
stays closed, nobody is answered ``store_unavailable``).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import requests
from bson import ObjectId

from bench.backfill import paced_latencies, seed_submissions
from bench.harness import ADMIN_TOKEN, Harness

READERS = 2


@dataclass
class HeavyReadsLatency:
    submissions: int  # in workspace A's form
    baseline_ms: list[float] = field(default_factory=list)  # B: 202 → delivery, A's viewer idle
    during_ms: list[float] = field(default_factory=list)  # B: 202 → delivery, A's viewer reading in a loop
    reads: Counter[str] = field(default_factory=Counter)  # A's reads by "kind status"
    read_seconds: list[float] = field(default_factory=list)  # each of A's reads, to its last byte
    kind_seconds: dict[str, list[float]] = field(default_factory=dict)  # the same by kind of read
    unready: int = 0  # /readyz answers other than 200 during the run (the store circuit open)
    ready_checks: int = 0


def _reads(form_id: str) -> list[tuple[str, str]]:
    return [
        ("search-no-match", f"/admin/forms/{form_id}/submissions?q=zzzzqqqq"),
        ("search-email", f"/admin/forms/{form_id}/submissions?q=person7777%40example.com"),
        ("field-filter", f"/admin/forms/{form_id}/submissions?field=name&value=nobody-here"),
        # every submission holds "hello" (in its message), none in its name: 5,000 candidates tested, then a note
        ("field-filter-common-word", f"/admin/forms/{form_id}/submissions?field=name&value=hello"),
        ("dashboard", "/admin/"),
        ("export-csv", f"/admin/submissions/export.csv?form_id={form_id}"),
        ("export-json", f"/admin/submissions/export.json?form_id={form_id}"),
    ]


class Reader(threading.Thread):
    """Loops over A's heavy reads until stopped; every body is read to its end."""

    def __init__(
        self, url: str, reads: list[tuple[str, str]], result: HeavyReadsLatency, lock: threading.Lock
    ):
        super().__init__(name="heavy-reader", daemon=True)
        self.url, self.reads, self.result, self.lock = url, reads, result, lock
        self._halt = threading.Event()

    def run(self) -> None:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        try:
            while not self._halt.is_set():
                for kind, path in self.reads:
                    if self._halt.is_set():
                        break
                    started = time.perf_counter()
                    try:
                        with http.get(f"{self.url}{path}", timeout=120, stream=True) as resp:
                            for _ in resp.iter_content(64 * 1024):
                                pass
                            outcome = str(resp.status_code)
                    except requests.RequestException as exc:
                        outcome = type(exc).__name__
                    with self.lock:
                        self.result.reads[f"{kind} {outcome}"] += 1
                        took = time.perf_counter() - started
                        self.result.read_seconds.append(took)
                        self.result.kind_seconds.setdefault(kind, []).append(took)
        finally:
            http.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(150)


class ReadyWatch(threading.Thread):
    """Asks ``/readyz`` every 0.2 s: any answer but 200 means the process took the store for down."""

    def __init__(self, url: str, result: HeavyReadsLatency):
        super().__init__(name="ready-watch", daemon=True)
        self.url, self.result = url, result
        self._halt = threading.Event()

    def run(self) -> None:
        http = requests.Session()
        try:
            while not self._halt.wait(0.2):  # a sampling interval, not synchronisation
                try:
                    ok = http.get(f"{self.url}/readyz", timeout=10).status_code == 200
                except requests.RequestException:
                    ok = False
                self.result.ready_checks += 1
                self.result.unready += 0 if ok else 1
        finally:
            http.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(30)


def dispatch_during_heavy_reads(h: Harness, db: str, submissions: int) -> HeavyReadsLatency:
    """B's dispatch latency at the paced rate, then again while A's viewer runs heavy reads in a loop."""
    app = h.start_app(db, scheduler=True)
    result = HeavyReadsLatency(submissions)
    try:
        admin = h.admin(app)
        big = admin.create_form("Big", admin.create_workspace("Bench A"))
        live = admin.create_form("Live", admin.create_workspace("Bench B"))
        admin.add_webhook(live, h.sink.url, "Live hook")
        admin.close()
        workspace = h.mongo[db]["forms"].find_one({"_id": ObjectId(big)})["workspace_id"]
        seed_submissions(h, db, big, workspace, submissions, indexed=True)
        h.sink.reset()
        result.baseline_ms = paced_latencies(h, app.url, db, live)
        lock = threading.Lock()
        readers = [Reader(app.url, _reads(big), result, lock) for _ in range(READERS)]
        watch = ReadyWatch(app.url, result)
        for thread in [*readers, watch]:
            thread.start()
        try:
            result.during_ms = paced_latencies(h, app.url, db, live)
        finally:
            watch.stop()
            for reader in readers:
                reader.stop()
    finally:
        app.stop()
    return result
