"""Attempt results written in batches by the workers themselves: execution logs with one insert_many, job
changes with one bulk_write, and what they settle added to the delivery rollups (engine.rollups) with one
more.

A worker writes its result at once when no other write is in flight. Results that arrive meanwhile go
together in the next write, by the worker writing now (``engine.batching.GroupCommit`` without waiting,
the intake's group commit with it): their workers go on to their next jobs at once. What a result's
write settles (the job's signals, a workflow run's next step: ``then``) runs only once the store has
acknowledged it. Until then the job is still leased to this process: if the process dies first, the job
is reaped and run again, at-least-once, under the same idempotency key.

Against the writer thread it replaced: one thread fewer per submission, drain and end to end unchanged
within the noise of a loaded machine (bench/README.md, "Two threads per submission").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from pymongo.errors import BulkWriteError, InvalidOperation

from app.engine.batching import GroupCommit
from app.engine.jobs import Change, apply_all
from app.models import PluginExecutionLog
from app.store_health import store_fault

log = logging.getLogger(__name__)

DUPLICATE_KEY = 11000
Item = tuple[dict[str, Any] | None, Change, Callable[[], object] | None]


class ResultWriter:
    """Writes attempt results in the calling threads, concurrent ones together; safe from many threads."""

    def __init__(self) -> None:
        self._group: GroupCommit[Item] = GroupCommit(self._write)

    def submit(
        self, log_doc: dict[str, Any] | None, change: Change, then: Callable[[], object] | None = None
    ) -> None:
        """Write one attempt's log row and job change, now or (another worker is writing) in that worker's
        next write; ``then`` runs once the write has ended, in the thread that wrote it."""
        self._group.submit((log_doc, change, then), wait=False)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every result submitted so far is written. False if that took longer than ``timeout``."""
        return self._group.flush(timeout)

    def _write(self, batch: list[Item]) -> None:
        """Write ``batch``: retried while the store is unreachable or slow (the jobs stay leased to this
        process meanwhile); given up, and left to the lease's expiry, on any other failure."""
        logs = [doc for doc, _, _ in batch if doc is not None]
        attempts = list(logs)  # each integration's latest attempt, for the rollups
        changes = [change for _, change, _ in batch]
        delay = 0.5
        while True:
            try:
                if logs:
                    _insert_logs(logs)
                    logs = []  # written: a retry after a later failure must not insert them twice
                apply_all(changes, attempts)  # (and the rollups of the jobs they settle: one bulk more)
                break
            except InvalidOperation as exc:  # the app's client was closed (the app is gone or replaced)
                log.warning("writing %d results failed (%s); their leases will expire", len(batch), exc)
                break
            except Exception as exc:
                if store_fault(exc) is None:
                    log.exception(
                        "writing %d results failed; their jobs will be retried when the leases expire",
                        len(batch),
                    )
                    break
                # Unreachable or slow: the jobs stay leased to us meanwhile; keep the results until it answers.
                log.warning(
                    "writing %d results failed (%s); retrying in %.1f s",
                    len(batch),
                    type(exc).__name__,
                    delay,
                )
                time.sleep(delay)
                delay = min(10.0, delay * 2)
        for _, _, then in batch:
            if then is not None:
                try:
                    then()
                except Exception:
                    log.exception("result callback failed")


def _insert_logs(logs: list[dict[str, Any]]) -> None:
    """Insert execution log rows. A retry after a timeout may find some written already (the store got
    them but its answer was lost): their ``_id``, given on the first try, is then taken, and that is fine."""
    try:
        PluginExecutionLog._get_collection().insert_many(logs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if exc.details.get("writeConcernErrors") or any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
