"""Attempt results written in batches: execution logs with one insert_many, job changes with one bulk_write.

A result waits at most ``max_delay`` seconds (or until ``max_batch`` results are waiting) before it is
written. This is safe: until its change is written, a job is still leased to this process, so if the
process dies first the job is reaped and run again — at-least-once, under the same idempotency key.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from pymongo.errors import BulkWriteError

from app.engine.queue import Change
from app.errors import STORE_DOWN
from app.models import PluginExecutionLog, PluginJob

log = logging.getLogger(__name__)

DUPLICATE_KEY = 11000
Item = tuple[dict[str, Any] | None, Change, Callable[[], object] | None]


class ResultWriter:
    def __init__(self, max_batch: int = 200, max_delay: float = 0.004):
        self.max_batch = max_batch
        self.max_delay = max_delay
        self._queue: queue.Queue[Item | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="formhooks-writer", daemon=True)
        self._thread.start()

    def submit(
        self, log_doc: dict[str, Any] | None, change: Change, then: Callable[[], object] | None = None
    ) -> None:
        """Queue one attempt's log row and job change; ``then`` runs once they are written."""
        with self._idle:
            self._pending += 1
        self._queue.put((log_doc, change, then))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is written. False if that took longer than ``timeout``."""
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
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_delay
            while len(batch) < self.max_batch:
                left = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(item)
            self._write(batch)

    def _write(self, batch: list[Item]) -> None:
        logs = [doc for doc, _, _ in batch if doc is not None]
        changes = [change.as_bulk() for _, change, _ in batch]
        delay = 0.5
        while True:
            try:
                if logs:
                    _insert_logs(logs)
                    logs = []  # written: a retry after a later failure must not insert them twice
                PluginJob._get_collection().bulk_write(changes, ordered=False)
                break
            except STORE_DOWN as exc:
                # The jobs stay leased to us meanwhile; keep the results until the store is back.
                log.warning(
                    "writing %d results failed (%s); retrying in %.1f s",
                    len(batch),
                    type(exc).__name__,
                    delay,
                )
                time.sleep(delay)
                delay = min(10.0, delay * 2)
            except Exception:
                log.exception(
                    "writing %d results failed; their jobs will be retried when the leases expire", len(batch)
                )
                break
        for _, _, then in batch:
            if then is not None:
                try:
                    then()
                except Exception:
                    log.exception("result callback failed")
        with self._idle:
            self._pending -= len(batch)
            self._idle.notify_all()


def _insert_logs(logs: list[dict[str, Any]]) -> None:
    """Insert execution log rows. A retry after a timeout may find some written already (the store got
    them but its answer was lost): their ``_id``, given on the first try, is then taken, and that is fine."""
    try:
        PluginExecutionLog._get_collection().insert_many(logs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if exc.details.get("writeConcernErrors") or any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
