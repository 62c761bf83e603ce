"""A background thread that writes queued items in batches: one store round trip for many items.

Used for attempt results (engine.writer) and for clearing dispatch markers (engine.dispatch). An item
waits at most ``max_delay`` seconds (``busy_delay`` right after a batch of several), or until
``max_batch`` items are waiting; an ``urgent`` item (someone waits for it: a workflow's next step) ends the
wait, its batch taking what is queued already. With ``idle_exit`` the
thread ends after that many idle seconds and starts again with the next item, so an app that stops
submitting (a test, a worker being replaced) leaves no thread behind.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Generic, TypeVar

from pymongo.errors import InvalidOperation

from app.store_health import store_fault

log = logging.getLogger(__name__)

T = TypeVar("T")


class Batcher(Generic[T]):
    """Subclasses implement ``write(batch)``; it runs on the batching thread, never concurrently."""

    name = "formhooks-batcher"

    def __init__(
        self,
        max_batch: int = 200,
        max_delay: float = 0.004,
        idle_exit: float | None = None,
        busy_delay: float | None = None,
    ):
        self.max_batch = max_batch
        self.max_delay = max_delay
        # After a batch of several items (they come faster than max_delay), wait up to busy_delay for
        # the next one: under load, fewer and larger writes; alone, an item still waits only max_delay.
        self.busy_delay = max_delay if busy_delay is None else busy_delay
        self._busy = False
        self.idle_exit = idle_exit
        self._queue: queue.Queue[tuple[T, bool] | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        if idle_exit is None:
            self._ensure_thread()

    def write(self, batch: list[T]) -> None:
        raise NotImplementedError

    def put(self, item: T, urgent: bool = False) -> None:
        """Queue one item for the next batch; ``urgent``: that batch is written without waiting for more."""
        with self._idle:  # queued under the lock: an idle thread ending now cannot miss it
            self._pending += 1
            self._ensure_thread()
            self._queue.put((item, urgent))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written. False if that took longer than ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> None:
        self.flush(timeout)
        with self._idle:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _ensure_thread(self) -> None:
        """Start the thread unless it runs (called with ``_idle`` held)."""
        if self._closed or (self._thread is not None and self._thread.is_alive()):
            return
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _next(self) -> tuple[T, bool] | None:
        """The first item of the next batch; None to stop (closed, or idle for ``idle_exit`` s)."""
        while True:
            try:
                return self._queue.get(timeout=self.idle_exit)
            except queue.Empty:
                with self._idle:
                    if self._queue.empty():  # nothing arrived meanwhile: end; ``put`` starts a new one
                        self._thread = None
                        return None

    def _run(self) -> None:
        while True:
            first = self._next()
            if first is None:
                return
            batch, urgent = [first[0]], first[1]
            deadline = time.monotonic() + (self.busy_delay if self._busy else self.max_delay)
            while len(batch) < self.max_batch:
                left = 0.0 if urgent else deadline - time.monotonic()
                try:
                    got = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if got is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(got[0])
                urgent = urgent or got[1]
            self._busy = len(batch) > 1
            try:
                self.write(batch)
            except Exception as exc:
                if isinstance(exc, InvalidOperation) or store_fault(exc):  # the store did not answer (its
                    # circuit reports an outage), or the app's client was closed: one line, no traceback
                    log.warning("%s: writing %d items failed (%s)", self.name, len(batch), type(exc).__name__)
                else:
                    log.exception("%s: writing %d items failed", self.name, len(batch))
            with self._idle:
                self._pending -= len(batch)
                self._idle.notify_all()
