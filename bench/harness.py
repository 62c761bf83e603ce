"""What every phase of the bench shares: the embedded store, the sink, app processes and an RSS sampler."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pymongo

from app.models import PluginJob
from app.store.embedded import EmbeddedStore
from bench.client import ApiClient
from bench.procs import AppProcess, RssSampler, cpu_seconds
from bench.settings import BenchSettings
from bench.sink import SinkProcess

ADMIN_TOKEN = "bench-admin-token"
JOBS = PluginJob._meta["collection"]


class Timeout(RuntimeError):
    pass


class Harness:
    """Start with a work folder; ``close()`` stops everything it started."""

    def __init__(self, settings: BenchSettings, workdir: Path):
        self.settings = settings
        self.workdir = workdir
        self.store = EmbeddedStore(workdir / "store").start()
        self.sink = SinkProcess()
        self.rss = RssSampler().start()
        self.mongo = pymongo.MongoClient(self.store.uri)
        self._apps: list[AppProcess] = []
        self._n = itertools.count(1)

    # -- app processes ---------------------------------------------------------------------------------

    def app_env(self, db_name: str, scheduler: bool, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Every setting through the environment, as in production (app/config.py)."""
        return {
            "MONGODB_URI": self.store.uri,
            "MONGODB_DB": db_name,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "SECRET_KEY": "bench-secret-key-bench-secret-key",
            "DATA_DIR": str(self.workdir / "data"),
            "ALLOW_PRIVATE_DESTINATIONS": "true",  # the sink is on loopback
            "SCHEDULER_ENABLED": "true" if scheduler else "false",
            "LEASE_SECONDS": str(self.settings.lease_seconds),
            "SUBMIT_RATE_LIMIT": "",  # the bench floods one form from one address on purpose
            **self.settings.app_env,
            **(extra or {}),
        }

    def start_app(self, db_name: str, scheduler: bool, env: dict[str, str] | None = None) -> AppProcess:
        """An app (gunicorn) on ``db_name``; ``env`` adds settings for this run only."""
        n = next(self._n)
        app = AppProcess(
            self.app_env(db_name, scheduler, env), self.settings.web_workers, self.workdir / f"app-{n}.log"
        )
        self._apps.append(app)
        self.rss.watch(app)
        return app.start()

    def start_peer_app(self, db_name: str, redis_url: str) -> AppProcess:
        """The Flask + pymongo + RQ peer (bench/peer_app.py) under gunicorn, ``peer_threads`` per worker."""
        env = {
            "MONGODB_URI": self.store.uri,
            "MONGODB_DB": db_name,
            "REDIS_URL": redis_url,
            "SINK_URL": self.sink.url,
            "PEER_HOOKS": str(self.settings.e2e_hooks),
        }
        log = self.workdir / f"peer-app-{next(self._n)}.log"
        s = self.settings
        app = AppProcess(env, s.web_workers, log, threads=s.peer_threads, app_spec="bench.peer_app:app")
        self._apps.append(app)
        return app.start()

    def admin(self, app: AppProcess) -> ApiClient:
        return ApiClient(app.url, ADMIN_TOKEN)

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by the store and the sink."""
        return {
            "store": cpu_seconds(self.store.proc.pid) or 0.0,
            "sink": cpu_seconds(self.sink.proc.pid) or 0.0,
        }

    # -- waiting on conditions -------------------------------------------------------------------------

    def wait_delivered(self, unique: int, timeout: float) -> dict[str, Any]:
        """Until the sink has seen ``unique`` distinct webhook-ids; returns its stats."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.sink.stats()
            if stats["unique"] >= unique:
                return stats
            if time.monotonic() > deadline:
                raise Timeout(f"the sink got {stats['unique']} of {unique} deliveries in {timeout:.0f} s")
            time.sleep(0.1)

    def unfinished(self, db_name: str) -> int:
        """Jobs still pending or running (equality on status, ids only: cheap on nx-27017)."""
        jobs = self.mongo[db_name][JOBS]
        return sum(len(list(jobs.find({"status": s}, {"_id": 1}))) for s in ("pending", "running"))

    def count_status(self, db_name: str, status: str) -> int:
        return len(list(self.mongo[db_name][JOBS].find({"status": status}, {"_id": 1})))

    def wait_drained(self, db_name: str, timeout: float) -> None:
        """Until no job of ``db_name`` is pending or running."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.unfinished(db_name)
            if left == 0:
                return
            if time.monotonic() > deadline:
                raise Timeout(f"{left} jobs still unfinished after {timeout:.0f} s")
            time.sleep(0.1)

    def close(self) -> None:
        for app in self._apps:
            app.kill()  # a no-op for apps already stopped
        self.rss.stop()
        self.mongo.close()
        self.sink.close()
        self.store.stop()
