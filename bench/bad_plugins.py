"""Another workspace's dispatch latency while misbehaving third-party plugins run (issues 9 and 21).

The six plugins of tests/support/bad_plugins.py's ``MISBEHAVING`` (one allocates 2 GB, one loops forever,
one kills its own process with SIGSEGV, one sleeps an hour ignoring its deadline, one calls ``os._exit``,
one ``sys.exit``) are installed as a package installs them: a ``*.dist-info`` folder with an ``entry_points.txt``
on the app's PYTHONPATH, so that the registry finds them through importlib.metadata and runs them in plugin
worker processes (``PLUGIN_ISOLATION=third-party``). Workspace A's form has the six of them; workspace
B's form has one webhook to the sink. B's dispatch latency is measured at the paced rate, then again while
a background thread keeps submitting to A's form, on the same app, back to back.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from app.contract.registry import ENTRY_POINT_GROUP
from bench.backfill import paced_latencies
from bench.client import ApiClient, submit
from bench.harness import JOBS, Harness, Timeout
from bench.procs import ROOT

MODULE = "tests.support.bad_plugins"
PLUGINS = {
    "hog": "HogPlugin",
    "spin": "SpinPlugin",
    "segfault": "SegfaultPlugin",
    "sleep": "SleepPlugin",
    "os_exit": "OsExitPlugin",
    "sys_exit": "SysExitPlugin",
}
DIST = "formhooks_bench_bad_plugins-0.dist-info"
RESTARTS = "formhooks_plugin_worker_restarts_total"
# JOB_TIMEOUT 3 s: the spinning plugin is killed at 3 s. The circuit breaker would stop calling a plugin after
# CIRCUIT_FAILURE_THRESHOLD failures in a row; it is raised so that the bad plugins keep running throughout.
APP_SETTINGS = {
    "PLUGIN_ISOLATION": "third-party",
    "JOB_TIMEOUT": "3",
    "PLUGIN_MEMORY_MB": "256",
    "MAX_ATTEMPTS": "1",
    "CIRCUIT_FAILURE_THRESHOLD": "1000000",
}


@dataclass
class BadPluginsLatency:
    rate: float  # submissions per second to workspace A's form (a bad job per plugin each)
    baseline_ms: list[float] = field(default_factory=list)  # B: 202 → delivery, A idle
    during_ms: list[float] = field(default_factory=list)  # B: 202 → delivery, A's bad plugins running
    submitted: int = 0  # to A's form, in the whole run
    refused: int = 0  # A's submissions that did not get their 202
    failures: Counter[str] = field(default_factory=Counter)  # A's failed jobs by last_error
    unfinished: int = 0  # A's jobs still pending or running at the end (its backlog)
    restarts: dict[str, int] = field(default_factory=dict)  # plugin worker processes replaced, by reason


def install_dist(folder: Path) -> Path:
    """A throw-away installed distribution declaring the bad plugins under the registry's entry-point group
    (what ``pip install`` would leave in site-packages); returns ``folder``, to go on ``sys.path``."""
    info = folder / DIST
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: formhooks-bench-bad-plugins\nVersion: 0\n")
    lines = [f"[{ENTRY_POINT_GROUP}]"] + [f"{pid} = {MODULE}:{cls}" for pid, cls in PLUGINS.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return folder


def app_settings(h: Harness, folder: Path) -> dict[str, str]:
    """The per-run environment: the distribution and the repository (for ``tests.support``) importable by
    the app and its worker processes, and the metrics of every gunicorn worker aggregated."""
    path = [str(folder), str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {
        **APP_SETTINGS,
        "PYTHONPATH": os.pathsep.join(p for p in path if p),
        "PROMETHEUS_MULTIPROC_DIR": str(h.workdir / "metrics-bad-plugins"),
    }


class Submitter(threading.Thread):
    """Submits to a form at a steady rate until stopped."""

    def __init__(self, url: str, form_id: str, per_second: float):
        super().__init__(name="bad-plugin-submitter", daemon=True)
        self.url, self.form_id, self.interval = url, form_id, 1.0 / per_second
        self.sent = self.refused = 0
        self._halt = threading.Event()

    def run(self) -> None:
        http, due = requests.Session(), time.monotonic()
        try:
            while not self._halt.is_set():
                try:
                    submit(http, self.url, self.form_id, self.sent)
                    self.sent += 1
                except (RuntimeError, requests.RequestException):
                    self.refused += 1
                due += self.interval
                self._halt.wait(max(0.0, due - time.monotonic()))  # pacing, not synchronisation
        finally:
            http.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(30)


def beside_submissions(
    h: Harness, url: str, db: str, live_form: str, busy_form: str, per_second: float, biting: Callable[[], None]
) -> tuple[list[float], list[float], Submitter]:
    """B's paced latencies on ``live_form`` alone, then while ``busy_form`` gets ``per_second`` submissions
    (measured once ``biting`` returns: the neighbour's load has taken hold); with the submitter's counts."""
    baseline = paced_latencies(h, url, db, live_form)
    submitter = Submitter(url, busy_form, per_second)
    submitter.start()
    try:
        biting()
        during = paced_latencies(h, url, db, live_form)
    finally:
        submitter.stop()
    return baseline, during, submitter


def _failed_plugins(h: Harness, db: str, form_id: str) -> set[str]:
    jobs = h.mongo[db][JOBS].find({"form_id": form_id, "status": "failed"}, {"plugin_id": 1})
    return {j["plugin_id"] for j in jobs}


def wait_all_failed(h: Harness, db: str, form_id: str, timeout: float = 60.0) -> None:
    """Until each bad plugin has failed a job: from then on all of them are crashing or being killed."""
    deadline = time.monotonic() + timeout
    while (missing := set(PLUGINS) - _failed_plugins(h, db, form_id)) and time.monotonic() < deadline:
        time.sleep(0.1)
    if missing:
        raise Timeout(f"no failed job of {sorted(missing)} within {timeout:g} s")


def failures(h: Harness, db: str, form_id: str) -> tuple[Counter[str], int]:
    """A's failed jobs by their last error, and how many are still pending or running."""
    jobs = list(h.mongo[db][JOBS].find({"form_id": form_id}, {"status": 1, "last_error": 1, "plugin_id": 1}))
    failed = Counter(f"{j['plugin_id']}: {j.get('last_error')}" for j in jobs if j["status"] == "failed")
    return failed, sum(1 for j in jobs if j["status"] in ("pending", "running"))


def worker_restarts(url: str) -> dict[str, int]:
    """Plugin worker processes replaced, by reason, summed over every gunicorn worker (``/metrics``; each
    worker's ``/readyz`` counts its own pool only)."""
    text = requests.get(f"{url}/metrics", timeout=30).text
    found: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == RESTARTS:
                found[sample.labels["reason"]] += int(sample.value)
    return dict(found)


def _forms(h: Harness, admin: ApiClient) -> tuple[str, str]:
    """Workspace A's form with the bad plugins; workspace B's with one webhook to the sink."""
    bad = admin.create_form("Bad plugins", admin.create_workspace("Bench A"))
    for pid in PLUGINS:
        admin.add_plugin(bad, pid, f"{pid} plugin", {})
    good = admin.create_form("Live", admin.create_workspace("Bench B"))
    admin.add_webhook(good, h.sink.url, "Live hook")
    return bad, good


def dispatch_during_bad_plugins(h: Harness, db: str, per_second: float) -> BadPluginsLatency:
    """B's dispatch latency at the paced rate, then again while A's form gets ``per_second`` submissions."""
    env = app_settings(h, install_dist(h.workdir / "bad-plugins-dist"))
    app = h.start_app(db, scheduler=True, env=env)
    result = BadPluginsLatency(per_second)
    try:
        admin = h.admin(app)
        bad_form, good_form = _forms(h, admin)
        admin.close()
        h.sink.reset()
        result.baseline_ms, result.during_ms, submitter = beside_submissions(
            h, app.url, db, good_form, bad_form, per_second, lambda: wait_all_failed(h, db, bad_form)
        )
        result.submitted, result.refused = submitter.sent, submitter.refused
        result.restarts = worker_restarts(app.url)
        result.failures, result.unfinished = failures(h, db, bad_form)
    finally:
        app.stop()
    return result
