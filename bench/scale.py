"""``make bench-scale``: the store seeded straight (insert_many, not the API) with N submissions over 10 forms
(one holding half), 3 finished jobs per submission with their execution logs and the search postings, then
the app as ``make run`` starts it (gunicorn, 2 workers, scheduler on, default settings) timed on the pages
and exports of issue 22. See bench/README.md "Scale run".

    .venv/bin/python -m bench.scale                                  # 1,000,000 submissions
    .venv/bin/python -m bench.scale --submissions 100000 --dir /tmp/scale100k   # keeps the store, reuses it
    SCALE_SUBMISSIONS=200000 .venv/bin/python -m bench.scale
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pymongo
import requests
from bson import ObjectId

from app.db import _index_model
from app.models import PluginExecutionLog, PluginJob, Submission, SubmissionTerm, utcnow
from app.models import figures as fig
from app.models.form import new_submission
from app.models.search_terms import postings
from bench.harness import ADMIN_TOKEN, JOBS, Harness
from bench.history import finished_copy
from bench.load import flood
from bench.procs import AppProcess, rss_bytes
from bench.report import Figure, Report, at_least, at_most
from bench.scale_derived import derive, has_figures
from bench.settings import BenchSettings
from bench.stats import percentile, rate
from bench.store_raw import log_doc

RESULTS = Path(__file__).resolve().parent / "results" / "scale.json"
DB = "bench_scale"
FORMS = 10
HOOKS = 3  # webhooks per form: each submission has one finished job per webhook
SPAN = dt.timedelta(days=730)  # the submissions' ages: the last two years
FIELDS = [
    {"name": "name", "label": "Full name", "type": "text", "required": True},
    {"name": "email", "label": "E-mail", "type": "email", "required": True},
    {"name": "age", "label": "Age", "type": "number"},
    {"name": "city", "label": "City", "type": "select", "options": []},
    {"name": "plan", "label": "Plan", "type": "select", "options": []},
    {"name": "visit", "label": "Date of visit", "type": "date"},
    {"name": "message", "label": "Message", "type": "textarea"},
]
FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Zoë",
    "美咲",
    "Linus",
    "Barbara",
    "Ken",
    "Margaret",
    "Edsger",
    "Frances",
    "Dennis",
    "Radia",
    "Tim",
    "Hedy",
    "Katherine",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Okafor",
    "Tanaka",
    "Torvalds",
    "Liskov",
    "Thompson",
    "Hamilton",
    "Dijkstra",
    "Allen",
    "Ritchie",
]
CITIES = ["Lisbon", "Nairobi", "Osaka", "Lima", "Oslo", "Pune", "Quito", "Hanoi", "Accra", "Porto"]
PLANS = ["free", "team", "business", "enterprise"]
WORDS = [
    "the",
    "service",
    "was",
    "quick",
    "and",
    "friendly",
    "would",
    "come",
    "again",
    "parking",
    "hard",
    "to",
    "find",
    "staff",
    "helpful",
    "booking",
    "online",
    "easy",
    "price",
    "fair",
    "wait",
    "long",
    "coffee",
    "great",
    "room",
    "clean",
    "noisy",
    "night",
]
FIELDS[3]["options"], FIELDS[4]["options"] = CITIES, PLANS


@dataclass
class ScaleSettings:
    submissions: int = 1_000_000
    runs: int = 20  # requests per timed page (p95 of these)
    batch: int = 2_000  # submissions per round of insert_many
    exports: bool = True
    intake: int = 1_000  # submissions posted to compare intake and drain with an empty store (0: skip)
    workdir: Path | None = None  # keep the store here (seeded once, reused by later runs)
    out: Path = RESULTS


@dataclass
class Seeded:
    """What the store holds and how long writing it took."""

    big_form: str
    forms: list[str]
    sample_ids: list[str]  # a few submissions of the big form, for the lookups
    sample_emails: list[str]
    seconds: dict[str, float] = field(default_factory=dict)  # by collection
    counts: dict[str, int] = field(default_factory=dict)


def person(i: int) -> dict[str, Any]:
    """A realistic submission (the same for the same ``i``)."""
    rnd = random.Random(i)
    first, last = rnd.choice(FIRST), rnd.choice(LAST)
    return {
        "name": f"{first} {last}",
        "email": f"{first.lower()}.{last.lower()}{i}@example.com",
        "age": rnd.randint(18, 90),
        "city": rnd.choice(CITIES),
        "plan": rnd.choice(PLANS),
        "visit": (dt.date(2024, 1, 1) + dt.timedelta(days=rnd.randrange(730))).isoformat(),
        "message": " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 12))),
    }


def form_of(i: int) -> int:
    """Which form submission ``i`` goes to: every other one to form 0 (half), the rest in turn."""
    return 0 if i % 2 == 0 else 1 + (i // 2) % (FORMS - 1)


def submission_docs(form: dict[str, Any], i: int, at: dt.datetime) -> tuple[dict[str, Any], list[dict]]:
    """Submission ``i`` (``person(i)``) of ``form`` (``id``, ``workspace_id``, ``fields``) received ``at``,
    as the intake and then the indexer leave it (no flag; its figures basis kept, so an edit takes back what
    it added), and its search postings. Its form's figures: ``bench.scale_derived.write_figures``."""
    sub = new_submission(form["id"], form.get("workspace_id"), person(i), ObjectId(), at)
    sub.update({"figures_basis": fig.basis(form["fields"], sub), "figures_seq": 0})
    return sub, postings(sub)


def _templates(h: Harness, app: AppProcess) -> tuple[list[dict], dict[str, list[dict]]]:
    """The forms (with HOOKS webhooks each, through the API) and, per form, real jobs the app wrote for one
    submission (copied as the seeded finished jobs)."""
    admin = h.admin(app)
    forms = []
    try:
        for n in range(FORMS):
            body = {"name": f"Scale form {n}", "fields": FIELDS}
            form = admin._post("/api/forms", body)
            for k in range(HOOKS):
                admin.add_webhook(form["id"], f"{h.sink.url}?form={n}&hook={k}", f"Hook {k}")
            admin._post(f"/api/forms/{form['id']}/submissions", {"data": person(-1 - n)})
            forms.append(form)
    finally:
        admin.close()
    h.wait_delivered(FORMS * HOOKS, timeout=120)  # (none left to retry against this sink once it is gone)
    jobs = h.mongo[DB][JOBS]
    deadline = time.monotonic() + 60
    while True:
        found = {f["id"]: list(jobs.find({"form_id": f["id"]})) for f in forms}
        if all(len(v) >= HOOKS for v in found.values()) or time.monotonic() > deadline:
            return forms, found
        time.sleep(0.2)


def _batches(forms: list[dict], templates: dict[str, list[dict]], n: int, size: int) -> Iterator[dict]:
    """Each batch's documents by collection: submissions (as the intake builds them), postings, jobs, logs."""
    now = utcnow()
    start = now - SPAN
    step = SPAN / max(n, 1)
    rng = random.Random(22)
    statuses = ["completed"] * 18 + ["failed"]
    for first in range(0, n, size):
        out: dict[str, list[dict]] = {
            "submissions": [],
            "submission_terms": [],
            JOBS: [],
            "plugin_execution_logs": [],
        }
        for i in range(first, min(n, first + size)):
            form = forms[form_of(i)]
            at = start + step * i
            sub, terms = submission_docs(form, i, at)
            out["submissions"].append(sub)
            out["submission_terms"] += terms
            for template in templates[form["id"]][:HOOKS]:
                when = at + dt.timedelta(milliseconds=rng.randint(5, 900))
                job = finished_copy(template, when, rng.choice(statuses))
                job["submission_id"] = str(sub["_id"])
                job["payload"] = {**template["payload"], "data": sub["data"]}
                out[JOBS].append(job)
                same = {
                    k: template[k]
                    for k in ("config_id", "form_id", "workspace_id", "plugin_id")
                    if k in template
                }
                ok = job["status"] == "completed"
                out["plugin_execution_logs"].append(
                    log_doc(job["_id"], **same, executed_at=when, status="success" if ok else "failed")
                )
        yield out


BULK = (Submission, SubmissionTerm, PluginJob, PluginExecutionLog)  # the collections seeded in bulk


def _insert(database: Any, name: str, docs: list[dict]) -> tuple[str, int, float]:
    began = time.monotonic()
    for part in range(0, len(docs), 5_000):  # (each insert well within the store's limits)
        database[name].insert_many(docs[part : part + 5_000], ordered=False)
    return name, len(docs), time.monotonic() - began


def build_indexes(database: Any) -> None:
    """The bulk collections' indexes as the app declares them (app.db builds the same at start-up)."""
    for model in BULK:
        specs = [
            _index_model(spec, model._meta.get("index_opts") or {}) for spec in model._meta["index_specs"]
        ]
        if specs:
            database[model._meta["collection"]].create_indexes(specs)


def seed(h: Harness, app: AppProcess, n: int, size: int, progress: Callable[[str], None] = print) -> Seeded:
    """N submissions and everything they bring, straight into the store. The forms, their webhooks and one
    real submission each go through the API (``app``, stopped afterwards); the bulk collections are then
    written without their secondary indexes, which are built once at the end (as a restore would: a bulk
    load into indexed collections goes at half the speed on nx-27017)."""
    forms, templates = _templates(h, app)
    app.stop()
    database = h.mongo[DB]
    for model in BULK:
        database[model._meta["collection"]].drop_indexes()
    seeded = Seeded(forms[0]["id"], [f["id"] for f in forms], [], [])
    seconds: dict[str, float] = {}
    counts: dict[str, int] = {}
    began = time.monotonic()
    with ThreadPoolExecutor(3) as pool:  # (while the store writes one batch, the next is built)
        pending: list[Future] = []
        for b, docs in enumerate(_batches(forms, templates, n, size)):
            for future in pending:
                name, count, took = future.result()
                seconds[name] = seconds.get(name, 0.0) + took
                counts[name] = counts.get(name, 0) + count
            pending = [pool.submit(_insert, database, name, batch) for name, batch in docs.items()]
            big = [s for s in docs["submissions"] if s["form_id"] == seeded.big_form]
            if b % 7 == 0 and big and len(seeded.sample_ids) < 200:
                seeded.sample_ids.append(str(big[0]["_id"]))
                seeded.sample_emails.append(big[-1]["data"]["email"])
            if b % 25 == 0:
                progress(
                    f"    seeding: {b * size:,} of {n:,} submissions after {time.monotonic() - began:,.0f} s"
                )
        for future in pending:
            name, count, took = future.result()
            seconds[name] = seconds.get(name, 0.0) + took
            counts[name] = counts.get(name, 0) + count
    written = time.monotonic()
    build_indexes(database)
    seconds["indexes"] = time.monotonic() - written
    took, derived = derive(database, h.store.uri, DB, seeded.forms, str(h.workdir / "rebuild"))
    seeded.seconds = {**seconds, **took, "total": time.monotonic() - began}
    seeded.counts = {**counts, **derived}
    progress(f"    seeded {n:,} submissions in {seeded.seconds['total']:,.0f} s ({seeded.seconds})")
    return seeded


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# ---- timing ------------------------------------------------------------------------------------------


def _session() -> requests.Session:
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    return http


def timed(
    http: requests.Session, url: str, runs: int, vary: Callable[[int], str] | None = None
) -> dict[str, Any]:
    """``runs`` GETs (``vary(n)`` gives each its own query when set), each read to its end: p50/p95 in ms
    and the statuses seen."""
    took, statuses = [], set()
    for n in range(runs):
        target = url + (vary(n) if vary else "")
        began = time.perf_counter()
        resp = http.get(target, timeout=300)
        took.append((time.perf_counter() - began) * 1000)
        statuses.add(resp.status_code)
    return {"p50": percentile(took, 50), "p95": percentile(took, 95), "statuses": sorted(statuses)}


class RssWatch(threading.Thread):
    """The largest growth of any one app process's RSS over its value when the watch started."""

    def __init__(self, app: AppProcess):
        super().__init__(name="rss-watch", daemon=True)
        self.app = app
        self.base = {pid: rss_bytes(pid) or 0 for pid in app.pids()}
        self.growth = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.1):  # a sampling interval
            for pid, base in self.base.items():
                self.growth = max(self.growth, (rss_bytes(pid) or base) - base)

    def stop(self) -> float:
        self._halt.set()
        self.join(5)
        return self.growth / 2**20


def _xlsx_rows(path: Path) -> int:
    with zipfile.ZipFile(path) as book, book.open("xl/worksheets/sheet1.xml") as sheet:
        rows, tail = 0, b""
        while chunk := sheet.read(1 << 20):
            rows += (tail + chunk).count(b"<row ")
            tail = chunk[-4:]
    return rows


def export(http: requests.Session, app: AppProcess, url: str, fmt: str, scratch: Path) -> dict[str, Any]:
    """One export to its last byte: first byte (s), rows, rows/s, the largest RSS growth of an app process."""
    watch = RssWatch(app)
    watch.start()
    began = time.perf_counter()
    first = None
    newlines = 0
    target = scratch / f"export.{fmt}"
    with http.get(url, timeout=3600, stream=True) as resp, open(target, "wb") as out:
        status = resp.status_code
        for chunk in resp.iter_content(256 * 1024):
            if chunk and first is None:
                first = time.perf_counter() - began
            newlines += chunk.count(b"\n")
            out.write(chunk)
    took = time.perf_counter() - began
    growth = watch.stop()
    if status != 200:
        rows = 0
    else:
        rows = _xlsx_rows(target) - 1 if fmt == "xlsx" else newlines - (1 if fmt == "csv" else 0)
    size = target.stat().st_size
    target.unlink()
    return {
        "status": status,
        "first_byte_s": first,
        "rows": rows,
        "seconds": took,
        "rows_per_s": rate(rows, took),
        "rss_growth_mb": growth,
        "mb": size / 1e6,
    }


def intake_and_drain(h: Harness, db: str, form_id: str, count: int) -> dict[str, float]:
    """``count`` submissions as fast as 8 clients send them to a form with HOOKS webhooks, on a live app:
    intake req/s, then the deliveries' rate at the sink (first to last arrival)."""
    app = h.start_app(db, scheduler=True)
    try:
        h.sink.reset()
        run = flood(app.url, form_id, count, 8)
        stats = h.wait_delivered(count * HOOKS, timeout=120 + count)
    finally:
        app.stop()
    return {
        "intake_rps": rate(run.count, run.seconds),
        "drain_jobs_s": rate(stats["unique"] - 1, stats["last"] - stats["first"]),
    }


EMPTY_DB = "bench_scale_empty"
# ABBA: a drift over the run (the page cache, the host) weighs on both alike
ORDER = (DB, EMPTY_DB, EMPTY_DB, DB)


def seeded_and_empty(h: Harness, count: int, report: Report) -> None:
    """Intake and drain on the seeded store against an empty one, twice each in ABBA order, as ratios of
    their means. (A new form with webhooks to this run's sink in both: the seeded ones point at the sink of
    the run that seeded them.)"""
    forms = {db: _new_form(h, db) for db in (DB, EMPTY_DB)}
    runs: dict[str, list[dict[str, float]]] = {DB: [], EMPTY_DB: []}
    for db in ORDER:
        runs[db].append(intake_and_drain(h, db, forms[db], count))
    for key, label in (("intake_rps", "intake req/s"), ("drain_jobs_s", "drain jobs/s")):
        full, empty = ([run[key] for run in runs[db]] for db in (DB, EMPTY_DB))
        ratio = sum(full) / sum(empty) if all(empty) else None
        report.add(
            Figure(
                f"{key}_ratio",
                f"{label}, seeded ÷ empty store",
                ratio,
                "ratio",
                "≥ 90%",
                at_least(ratio, 0.9),
                f"seeded {_each(full)}, empty {_each(empty)}",
            )
        )


def _each(values: list[float]) -> str:
    return " / ".join(f"{v:,.0f}" for v in values)


def _new_form(h: Harness, db: str) -> str:
    app = h.start_app(db, scheduler=False)
    try:
        admin = h.admin(app)
        form = admin._post("/api/forms", {"name": "Intake form", "fields": FIELDS})
        for k in range(HOOKS):
            admin.add_webhook(form["id"], f"{h.sink.url}?intake={k}", f"Intake hook {k}")
        admin.close()
    finally:
        app.stop()
    return form["id"]


# ---- the run -----------------------------------------------------------------------------------------


def _pages(seeded: Seeded) -> list[tuple[str, str, str, float, Callable[[int], str] | None]]:
    """(key, label, url, target ms, vary) of every timed page."""
    big, runs = f"/admin/forms/{seeded.big_form}/submissions", "/admin/executions"
    ids, emails = seeded.sample_ids or [""], seeded.sample_emails or [""]
    middle = utcnow() - SPAN / 2
    day = lambda k: (middle + dt.timedelta(days=k)).date().isoformat()  # noqa: E731
    today = utcnow().date()
    year = lambda k: f"?from={today - dt.timedelta(days=364 + k)}&to={today - dt.timedelta(days=k)}"  # noqa: E731
    return [
        ("page_first", "submissions, first page", big, 300, None),
        ("page_100", "submissions, page 100", big + "?page=100", 300, None),
        ("lookup_id", "lookup by id", big, 300, lambda k: f"?q={ids[k % len(ids)]}"),
        ("lookup_email", "lookup by e-mail", big, 300, lambda k: f"?q={emails[k % len(emails)]}"),
        ("search_word", "word search (one word)", big, 1000, lambda k: f"?q={WORDS[k % len(WORDS)]}"),
        ("search_two", "word search (two words)", big, 1000, lambda k: f"?q={FIRST[k % 12]}+{LAST[k % 12]}"),
        ("search_none", "word search, no match", big, 1000, lambda k: f"?q=zz{k}qq"),
        ("date_filter", "date filter (one day)", big, 500, lambda k: f"?from={day(k)}&to={day(k)}"),
        (
            "field_filter",
            "field filter (city)",
            big,
            500,
            lambda k: f"?field=city&value={CITIES[k % len(CITIES)]}",
        ),
        # the pages that list jobs and attempts, and those around a form (issue 22: "every page")
        ("executions", "executions, newest jobs", "/admin/executions", 300, None),
        ("executions_failed", "executions, failed, any time", f"{runs}?status=failed&range=all", 300, None),
        ("executions_100", "executions, page 100", f"{runs}?range=all&page=100", 300, None),
        ("attempts", "attempts of the big form", f"{runs}?view=attempts&form_id={seeded.big_form}", 300, None),
        ("api_jobs", "API jobs list", "/api/jobs", 300, None),
        ("api_logs", "API logs of the big form", f"/api/logs?form_id={seeded.big_form}", 300, None),
        ("form_page", "the big form's page", f"/admin/forms/{seeded.big_form}", 300, None),
        ("forms_list", "forms list", "/admin/forms", 300, None),
        ("submission_page", "a submission's page", "/admin/submissions/", 300, lambda k: ids[k % len(ids)]),
        ("dashboard", "dashboard", "/admin/", 300, None),
        ("summary", "results summary (big form)", f"/admin/forms/{seeded.big_form}/summary", 300, None),
        ("summary_year", "results summary, last year", f"/admin/forms/{seeded.big_form}/summary", 300, year),
    ]


def _page(http: requests.Session, report: Report, runs: int, url: str, page: tuple) -> None:
    key, label, _, target, vary = page
    first = http.get(url + (vary(0) if vary else ""), timeout=300)  # (a first read warms the process)
    if key.startswith("summary") and first.status_code == 404:
        report.add(Figure(key, label, None, "ms", f"≤ {target} ms", note="skipped: the route answers 404"))
        return
    got = timed(http, url, runs, vary)
    note = f"p50 {got['p50']:.0f} ms, status {got['statuses']}"
    ok = at_most(got["p95"], target) if got["statuses"] == [200] else False
    report.add(Figure(key, f"{label} p95", got["p95"], "ms", f"≤ {target} ms", ok, note))
    print(f"    {label}: p95 {got['p95']:.0f} ms ({note})", flush=True)


def _export_figures(report: Report, fmt: str, got: dict[str, Any]) -> None:
    name = fmt.upper()
    note = f"{got['rows']:,} rows, {got['mb']:.0f} MB in {got['seconds']:.1f} s, status {got['status']}"
    first, per_s, growth = got["first_byte_s"], got["rows_per_s"], got["rss_growth_mb"]
    report.add(
        Figure(
            f"export_{fmt}_first_byte", f"export {name} first byte", first, "s", "≤ 1 s", at_most(first, 1)
        )
    )
    report.add(
        Figure(
            f"export_{fmt}_rows_s",
            f"export {name} rows/s",
            per_s,
            "rows/s",
            "≥ 10,000",
            at_least(per_s, 1e4),
            note,
        )
    )
    report.add(
        Figure(
            f"export_{fmt}_rss", f"export {name} app RSS growth", growth, "MB", "≤ 50 MB", at_most(growth, 50)
        )
    )


def measure(h: Harness, s: ScaleSettings, seeded: Seeded, report: Report, scratch: Path) -> None:
    """Pages, then exports, then the summary and the dashboard (last: a dashboard that outlasts the store's
    timeout may open the app's store circuit, and every read after it would fail)."""
    app = h.start_app(DB, scheduler=True)
    http = _session()
    pages = _pages(seeded)
    try:
        for page in pages[:-3]:
            _page(http, report, s.runs, app.url + page[2], page)
        for fmt in ("csv", "jsonl", "xlsx") if s.exports else ():
            url = f"{app.url}/admin/submissions/export.{fmt}?form_id={seeded.big_form}"
            load = os.getloadavg()[0]
            got = export(http, app, url, fmt, scratch)
            print(f"    export {fmt} (load {load:.1f}): {got}", flush=True)
            report.notes.append(f"export {fmt}: the machine's load average was {load:.1f} when it started")
            _export_figures(report, fmt, got)
        for page in pages[-3:][::-1]:
            _page(http, report, s.runs, app.url + page[2], page)
    finally:
        http.close()
        app.stop()
    if s.exports:
        _unpaced(h, seeded, report, scratch)


def _unpaced(h: Harness, seeded: Seeded, report: Report, scratch: Path) -> None:
    """The CSV export again on an app whose exports never rest (``EXPORT_SHARE=1``): what the store and the
    app can do, against the figure above, which rests while others (here: the machine's other work) wait."""
    app = h.start_app(DB, scheduler=True, env={"EXPORT_SHARE": "1"})
    http = _session()
    try:
        got = export(
            http, app, f"{app.url}/admin/submissions/export.csv?form_id={seeded.big_form}", "csv", scratch
        )
    finally:
        http.close()
        app.stop()
    print(f"    export csv, EXPORT_SHARE=1: {got}", flush=True)
    note = f"{got['rows']:,} rows in {got['seconds']:.1f} s, status {got['status']}"
    report.add(
        Figure(
            "export_csv_unpaced_rows_s",
            "export CSV rows/s, never resting",
            got["rows_per_s"],
            "rows/s",
            note=note,
        )
    )


def run_scale(s: ScaleSettings, workdir: Path) -> Report:
    """Seed (unless ``workdir`` holds a seeded store), measure, report."""
    report = Report({k: str(v) for k, v in asdict(s).items()})
    h = Harness(BenchSettings(), workdir)
    marker = workdir / "seeded.json"
    try:
        if marker.exists():
            seeded = Seeded(**json.loads(marker.read_text()))
            print(f"reusing the store seeded in {workdir}", flush=True)
            started = time.monotonic()
            with pymongo.timeout(3600):  # (indexes this version added: minutes over millions of rows)
                build_indexes(h.mongo[DB])
            print(f"    indexes ensured in {time.monotonic() - started:,.0f} s", flush=True)
            if not has_figures(h.mongo[DB]):  # (seeded before figures and rollups: derive them now)
                took, derived = derive(h.mongo[DB], h.store.uri, DB, seeded.forms, str(h.workdir / "rebuild"))
                print(f"    derived figures and rollups: {took} {derived}", flush=True)
                seeded.seconds = {**seeded.seconds, **took}
                seeded.seconds["total"] = seeded.seconds.get("total", 0.0) + sum(took.values())
                seeded.counts = {**seeded.counts, **derived}
                marker.write_text(json.dumps(asdict(seeded)))
        else:
            app = h.start_app(DB, scheduler=True)
            try:
                seeded = seed(h, app, s.submissions, s.batch)
            finally:
                app.stop()  # (a no-op once seed stopped it)
            marker.write_text(json.dumps(asdict(seeded)))
        took = seeded.seconds
        report.add(Figure("seed_seconds", "seeding, all collections", took.get("total"), "s"))
        report.notes.append(
            "seeded: "
            + ", ".join(
                (f"{name} {seeded.counts[name]:,}" if name in seeded.counts else name) + f" in {sec:,.0f} s"
                for name, sec in took.items()
                if name != "total"
            )
        )
        report.add(Figure("store_mb", "store size on disk", folder_bytes(workdir / "store") / 1e6, "MB"))
        measure(h, s, seeded, report, workdir)
        if s.intake:
            seeded_and_empty(h, s.intake, report)
    finally:
        h.close()
    return report


def parse(argv: list[str] | None = None) -> ScaleSettings:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description="Formhooks scale run (make bench-scale)"
    )
    parser.add_argument(
        "--submissions", type=int, default=int(os.environ.get("SCALE_SUBMISSIONS", 1_000_000))
    )
    parser.add_argument("--runs", type=int, default=20, help="requests per timed page [20]")
    parser.add_argument("--batch", type=int, default=2_000, help="submissions per insert round [2000]")
    parser.add_argument("--no-exports", dest="exports", action="store_false")
    parser.add_argument(
        "--intake", type=int, default=1_000, help="submissions of the intake/drain comparison; 0 skips"
    )
    parser.add_argument(
        "--dir", type=Path, help="keep the store here (seeded on the first run, reused after)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    a = parser.parse_args(argv)
    return ScaleSettings(a.submissions, a.runs, a.batch, a.exports, a.intake, a.dir, a.out)


def main(argv: list[str] | None = None) -> int:
    s = parse(argv)
    print(f"Formhooks scale run: {s.submissions:,} submissions over {FORMS} forms", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        workdir = s.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        report = run_scale(s, workdir)
    print()
    print(report.table())
    report.write(s.out)
    print(f"\nwritten to {s.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
