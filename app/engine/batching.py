"""Items written in batches: one store round trip for many items. Two ways:

- ``GroupCommit``: no thread of its own. Callers that arrive while a write is in flight go together in the
  next write, led by the first of them; each returns once its own item is written. For writes someone
  waits for: a submission and its jobs before the 202 (engine.group_commit), an attempt's result before
  its worker reports the job done (engine.writer).
- ``Batcher``: a background thread, for writes nobody waits for (clearing dispatch markers, engine.dispatch).

A ``Batcher``'s item waits at most ``max_delay`` seconds, or until ``max_batch`` items are waiting. With
``idle_exit`` the thread ends after that many idle seconds and starts again with the next item, so an app
that stops submitting (a test, a worker being replaced) leaves no thread behind.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from pymongo.errors import InvalidOperation

from app.store_health import store_fault

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Waiter(Generic[T]):
    __slots__ = ("item", "woken", "lead", "done")

    def __init__(self, item: T):
        self.item = item
        self.woken = threading.Event()
        self.lead = False  # woken to write the next group rather than with its own written
        self.done = False


class GroupCommit(Generic[T]):
    """Concurrent callers' items written together, by the callers themselves (group commit).

    A caller alone writes at once. Callers that arrive while a write is in flight wait; when it ends, the
    first of them writes everything that came meanwhile (its own item included) and wakes the others. So N
    concurrent callers cost about one round trip rather than N, nobody waits for a timer, and no thread
    but the callers' is involved. ``write_group`` gets the items in arrival order; an exception it raises
    reaches the caller that led that write only (it must record each item's outcome itself).
    """

    def __init__(self, write_group: Callable[[list[T]], None]):
        self._write_group = write_group
        self._lock = threading.Lock()
        self._waiting: list[_Waiter[T]] = []
        self._writing = False

    @property
    def waiting(self) -> int:
        """Callers waiting for the write in flight to end (for tests and tools)."""
        return len(self._waiting)

    def submit(self, item: T) -> None:
        """Write ``item`` with whatever else is waiting; returns once the write that took it has ended."""
        waiter = _Waiter(item)
        with self._lock:
            self._waiting.append(waiter)
            waiter.lead = not self._writing
            self._writing = True
        if not waiter.lead:
            waiter.woken.wait()
        if not waiter.done:  # this caller leads the next write (its own item is in it)
            self._lead()

    def _lead(self) -> None:
        with self._lock:
            group, self._waiting = self._waiting, []
        try:
            self._write_group([waiter.item for waiter in group])
        finally:
            with self._lock:
                for waiter in group:
                    waiter.done = True
                if self._waiting:  # the first caller that came meanwhile writes the next group
                    self._waiting[0].woken.set()
                else:
                    self._writing = False
            for waiter in group:
                waiter.woken.set()


class Batcher(Generic[T]):
    """Subclasses implement ``write(batch)``; it runs on the batching thread, never concurrently."""

    name = "formhooks-batcher"

    def __init__(
        self,
        max_batch: int = 200,
        max_delay: float = 0.004,
        idle_exit: float | None = None,
    ):
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.idle_exit = idle_exit
        self._queue: queue.Queue[T | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        if idle_exit is None:
            self._ensure_thread()

    def write(self, batch: list[T]) -> None:
        raise NotImplementedError

    def put(self, item: T) -> None:
        """Queue one item for the next batch."""
        with self._idle:  # queued under the lock: an idle thread ending now cannot miss it
            self._pending += 1
            self._ensure_thread()
            self._queue.put(item)

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

    def _next(self) -> T | None:
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
            batch = [first]
            deadline = time.monotonic() + self.max_delay
            while len(batch) < self.max_batch:
                left = deadline - time.monotonic()
                try:
                    got = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if got is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(got)
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
