"""Processes the bench runs: the app under gunicorn (as in production), and an RSS sampler for it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from app.gunicorn_hooks import graceful_timeout
from app.store.embedded import free_port

ROOT = Path(__file__).resolve().parent.parent


def gunicorn_argv(
    port: int, workers: int, threads: int, grace: float, app_spec: str = "wsgi:app"
) -> list[str]:
    """`gunicorn wsgi:app` with the settings of app/serve.py (gthread workers, 8 threads each)."""
    return [
        str(Path(sys.executable).with_name("gunicorn")),
        app_spec,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--graceful-timeout",
        str(graceful_timeout({"SHUTDOWN_GRACE": str(grace)})),
    ]


PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def group_members(pgid: int) -> list[int]:
    """Pids of the live processes in process group ``pgid`` (from /proc; Linux)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # fields after the command name (which may hold spaces): state ppid pgrp ...
        rest = stat.rpartition(")")[2].split()
        if len(rest) > 2 and int(rest[2]) == pgid and rest[0] != "Z":
            found.append(int(entry.name))
    return found


def rss_bytes(pid: int) -> int | None:
    """Resident set size of ``pid`` (from /proc/<pid>/statm), or None when it is gone."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return None


def pss_bytes(pid: int) -> int | None:
    """Proportional set size of ``pid``: its resident memory with shared pages split between their sharers
    (forked plugin workers share most of theirs), so that a sum over processes counts each page once."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return rss_bytes(pid)


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) ``pid`` has used so far, with its children that it already reaped."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return sum(int(v) for v in fields[11:15]) / TICKS  # utime stime cutime cstime


def wait_with_usage(proc: subprocess.Popen, timeout: float) -> float | None:
    """Reap ``proc`` and return the CPU seconds it used, with the children it reaped (gunicorn workers,
    RQ work horses); None when it did not end within ``timeout`` or was reaped already."""
    deadline = time.monotonic() + timeout
    while proc.returncode is None:
        try:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        except ChildProcessError:
            proc.wait()
            return None
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)
    return None


class AppProcess:
    """The app under gunicorn in its own process group; every setting comes from the environment.

    ``app_spec`` serves another WSGI app the same way (the end-to-end peer, ``bench.peer_app:app``); it
    must answer ``GET /readyz``.
    """

    def __init__(
        self, env: dict[str, str], workers: int, log_path: Path, threads: int = 8, app_spec: str = "wsgi:app"
    ):
        self.env = {**os.environ, **env}
        self.app_spec = app_spec
        self.workers = workers
        self.threads = threads
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.cpu_seconds: float | None = None  # master and workers, start to stop (set by ``stop``)
        self.boot_cpu_seconds = 0.0  # what they had used when the app answered ready

    def start(self, timeout: float = 60.0) -> AppProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            gunicorn_argv(
                self.port,
                self.workers,
                self.threads,
                float(self.env.get("SHUTDOWN_GRACE", 10)),
                self.app_spec,
            ),
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a crash can take master and workers at once
        )
        self.wait_ready(timeout)
        self.boot_cpu_seconds = self.cpu_now()
        return self

    def cpu_now(self) -> float:
        """CPU seconds the app's live processes have used so far."""
        return sum(cpu_seconds(pid) or 0.0 for pid in self.pids())

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if requests.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app was not ready within {timeout:g} s; see {self.log_path}")
            time.sleep(0.1)

    def pids(self) -> list[int]:
        """The gunicorn master and its workers as they are now (its process group)."""
        proc = self.proc  # read once: another thread may stop the app meanwhile
        # No poll() here: reaping belongs to stop(), which reads the CPU usage as it reaps.
        return group_members(proc.pid) if proc is not None else []

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop (SIGTERM to the master, which stops its workers); records ``cpu_seconds``."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.cpu_seconds = wait_with_usage(self.proc, timeout)
            if self.proc.returncode is None:
                self.kill()
        self.proc = None

    def kill(self) -> None:
        """Crash: SIGKILL the whole process group (master and workers) at once."""
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


class RssSampler:
    """Samples the resident memory of every process of the watched apps; keeps the largest per process."""

    def __init__(self, interval: float = 0.25):
        self.interval = interval
        self.apps: list[AppProcess] = []
        self.max_rss: dict[int, int] = {}  # pid -> bytes
        self.max_total = 0  # bytes: the largest PSS sum over one app's processes (plugin workers included)
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def watch(self, app: AppProcess) -> AppProcess:
        self.apps.append(app)
        return app

    def sample(self) -> None:
        for app in list(self.apps):
            total = 0
            for pid in app.pids():
                rss = rss_bytes(pid)
                if rss is not None:
                    self.max_rss[pid] = max(self.max_rss.get(pid, 0), rss)
                    total += pss_bytes(pid) or 0
            self.max_total = max(self.max_total, total)
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    @property
    def peak_mb(self) -> float:
        """The largest RSS any single app process reached, in MiB."""
        return max(self.max_rss.values(), default=0) / 2**20

    @property
    def total_peak_mb(self) -> float:
        """The largest memory of one app with all its processes at once (PSS: shared pages once), in MiB."""
        return self.max_total / 2**20

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
