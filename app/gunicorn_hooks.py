"""gunicorn server hooks (used by gunicorn.conf.py and `make run`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any


def on_starting(server: Any) -> None:
    """In the arbiter, before workers start: an empty metrics folder (prometheus multiprocess mode)."""
    if folder := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(folder, ignore_errors=True)  # samples of a previous run's processes
        Path(folder).mkdir(parents=True)


def worker_exit(server: Any, worker: Any) -> None:
    """In the worker, before it exits: stop claiming, let in-flight jobs finish, release the rest."""
    from app.engine.scheduler import scheduler_for

    app = getattr(worker, "wsgi", None)
    scheduler = scheduler_for(app) if hasattr(app, "extensions") else None
    if scheduler is not None:
        scheduler.shutdown()


def child_exit(server: Any, worker: Any) -> None:
    """In the arbiter, after a worker exited: drop its live-gauge files (prometheus multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
