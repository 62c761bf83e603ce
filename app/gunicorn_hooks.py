"""gunicorn server hooks and the graceful timeout (used by gunicorn.conf.py and `make run`)."""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app import shared_imports
from app.config import SETTINGS

# A worker's scheduler stops within SHUTDOWN_GRACE + STOP_MARGIN (app.engine.scheduler); gunicorn kills a
# worker after graceful_timeout, so that is kept this much longer than the grace.
GRACEFUL_MARGIN = 5


def graceful_timeout(env: Mapping[str, str] = os.environ) -> int:
    """gunicorn's graceful_timeout for the SHUTDOWN_GRACE in ``env``: the grace plus GRACEFUL_MARGIN s."""
    grace = float(env.get("SHUTDOWN_GRACE", SETTINGS["SHUTDOWN_GRACE"][1]))
    return math.ceil(grace) + GRACEFUL_MARGIN


def on_starting(server: Any) -> None:
    """In the arbiter, before workers start: an empty metrics folder (prometheus multiprocess mode), and the
    app's modules imported once for every worker to share (app.shared_imports)."""
    if folder := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(folder, ignore_errors=True)  # samples of a previous run's processes
        Path(folder).mkdir(parents=True)
    if shared_imports.enabled():
        shared_imports.share_imports()


def _scheduler(worker: Any) -> Any:
    """The worker's app's scheduler; None when it has none, or is not a Formhooks app (the bench's peer)."""
    from app.services import KEY  # noqa: PLC0415  (Flask: not in the master process)

    found = getattr(getattr(worker, "wsgi", None), "extensions", {}).get(KEY)
    return found.scheduler if found is not None else None


def post_worker_init(worker: Any) -> None:
    """In the worker, once the app is loaded: SIGTERM (a stop, or the old worker of a SIGHUP reload)
    starts the scheduler's grace at once, while gunicorn drains the requests in progress."""
    scheduler = _scheduler(worker)
    previous = signal.getsignal(signal.SIGTERM)
    if scheduler is None or not callable(previous):
        return

    def on_sigterm(signum: int, frame: Any) -> None:
        threading.Thread(target=scheduler.shutdown, name="formhooks-shutdown", daemon=True).start()
        previous(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)


def worker_exit(server: Any, worker: Any) -> None:
    """In the worker, before it exits: stop the scheduler (in-flight jobs get SHUTDOWN_GRACE; the rest are
    released or recorded as "outcome unknown"), then exit without waiting for calls still running."""
    scheduler = _scheduler(worker)
    if scheduler is None:
        return
    scheduler.shutdown()  # or wait for the one SIGTERM started
    if scheduler.busy:
        # Interpreter exit would join the threads of calls that overran the grace (Python cannot kill
        # them); their jobs are recorded already, so leave now.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def child_exit(server: Any, worker: Any) -> None:
    """In the arbiter, after a worker exited: drop its live-gauge files (prometheus multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
