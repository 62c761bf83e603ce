"""Heavy admin reads take turns: a search or filter that tests candidates in Python, and every export, runs
only while it holds its workspace's turn in this process. One heavy read per workspace per process runs at
a time; another waits up to ``HEAVY_READ_WAIT`` seconds for the turn, then is answered 429 ("busy, try
again", with ``Retry-After``) and reads nothing. Each one also keeps to its share of the time
(``EXPORT_SHARE``, app.admin.export.paced) and reads the store in bounded batches, so what one workspace's
viewers ask for costs the others at most one short store read at a time, never a queue of them.

Another workspace has its own turn: the gate never makes its reads, its deliveries or its submissions wait.
The turns are per process (each gunicorn worker has its own), held in memory: nothing is written to the
store for them, and a process that dies takes its turns with it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from flask import current_app

from app.errors import APIError
from app.services import services
from app.store_health import restart_store_deadline

RETRY_AFTER = 2  # seconds a refused reader is told to wait


class Turn:
    """The turns of some workspaces, held until ``release`` (safe to call more than once, from any thread:
    a streamed export gives its turn back when the response closes)."""

    def __init__(self, locks: list[threading.Lock]):
        self._locks, self._once = locks, threading.Lock()

    def release(self) -> None:
        with self._once:
            locks, self._locks = self._locks, []
        for lock in reversed(locks):
            lock.release()

    def __enter__(self) -> Turn:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


class ReadGate:
    """One turn per workspace (per process)."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, workspace_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(workspace_id, threading.Lock())

    def take(self, workspace_ids: Iterable[str], wait: float) -> Turn:
        """The turns of these workspaces (taken in one order, so two readers of overlapping sets cannot
        hold one each and wait for the other's), waiting at most ``wait`` seconds in all; a 429 when they
        are not free by then (none held)."""
        deadline = time.monotonic() + max(0.0, wait)
        held: list[threading.Lock] = []
        for workspace_id in sorted(set(workspace_ids)):
            lock = self._lock(workspace_id)
            if not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                Turn(held).release()
                raise busy()
            held.append(lock)
        return Turn(held)

    def running(self, workspace_id: str) -> bool:
        """Whether a heavy read of this workspace holds its turn now (for tests and health pages)."""
        return self._lock(workspace_id).locked()


def busy() -> APIError:
    err = APIError(
        429,
        "busy",
        "Another search or export of this workspace is running; try again in a moment, or narrow the search.",
    )
    err.headers = {"Retry-After": str(RETRY_AFTER)}
    return err


def turn_for(workspace_ids: Iterable[str | None]) -> Turn:
    """The current app's turn for a heavy read of these workspaces (waits up to ``HEAVY_READ_WAIT``)."""
    wait = float(current_app.config["HEAVY_READ_WAIT"])
    turn = services().read_gate.take((w for w in workspace_ids if w), wait)
    restart_store_deadline()  # (the wait was not the store's time)
    return turn
