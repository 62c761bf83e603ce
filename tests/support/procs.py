"""Start and kill app processes for crash tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def app_env(store_uri: str, db_name: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment of an app process for tests: this test's database, short leases and fast retries."""
    from tests.conftest import ADMIN_TOKEN

    return {
        "MONGODB_URI": store_uri,
        "MONGODB_DB": db_name,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "SECRET_KEY": "test-secret-key",
        "DATA_DIR": str(data_dir),
        "ALLOW_PRIVATE_DESTINATIONS": "true",
        "LEASE_SECONDS": "2",
        "POLL_INTERVAL": "0.2",
        "SWEEP_INTERVAL": "0.5",
        "SWEEP_MIN_AGE": "0.5",
        "RETRY_BACKOFF_BASE": "0.05",
        "RETRY_BACKOFF_MAX": "0.2",
        **extra,
    }


def admin_session() -> requests.Session:
    """HTTP session that sends the tests' admin token."""
    from tests.conftest import ADMIN_TOKEN

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    return session


class AppProcess:
    """The app (API + scheduler) in a child process on a free port."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop/kill
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.app_process"],
            cwd=ROOT,
            env={**os.environ, **env, "PORT": "0", "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        self.port = self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode()
            if line.startswith("READY"):
                return int(line.split()[1])
            if self.proc.poll() is not None:
                break
        raise RuntimeError(
            f"app process did not start; see {self.log_path}:\n{self.log_path.read_text()[-3000:]}"
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, as in a crash."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class GunicornProcess(AppProcess):
    """The app as production runs it: gunicorn with gunicorn.conf.py (its hooks stop schedulers gracefully)."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int = 1):
        from app.store.embedded import free_port

        self.port = free_port()
        self.log_path = log_path
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop/kill
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "wsgi:app",
                "--config",
                "gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
            ],
            cwd=ROOT,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdout=self.log,
            stderr=self.log,
        )
        self._wait_healthy()

    def _wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if requests.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(
            f"gunicorn did not become ready; see {self.log_path}:\n{self.log_path.read_text()[-3000:]}"
        )

    def workers(self) -> set[int]:
        """The pids of the worker processes now running."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return {int(pid) for pid in children if is_running(int(pid))}


def is_running(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
