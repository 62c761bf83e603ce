"""Attempt results written in batches by the workers themselves: execution logs with one insert_many, job
changes with one bulk_write, and what they settle added to the delivery rollups (engine.rollups) with one
more.

A worker writes its result at once when no other write is in flight; results that arrive meanwhile go
together in the next write, led by the first of their workers (``engine.batching.GroupCommit``, as the
intake's group commit). A worker returns from ``submit`` only once its result is acknowledged, so a job is
never reported done (signals, a workflow's next step) before the store has its outcome. If the process dies
first, the job is still leased to it and is reaped and run again: at-least-once, under the same idempotency
key.
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
Item = tuple[dict[str, Any] | None, Change]


class ResultWriter:
    """Writes attempt results in the calling threads, concurrent ones together; safe from many threads."""

    def __init__(self) -> None:
        self._group: GroupCommit[Item] = GroupCommit(self._write)

    def submit(
        self, log_doc: dict[str, Any] | None, change: Change, then: Callable[[], object] | None = None
    ) -> None:
        """Write one attempt's log row and job change (with those of other workers arriving meanwhile);
        then, once that write has ended, run ``then`` here."""
        self._group.submit((log_doc, change))
        if then is not None:
            try:
                then()
            except Exception:
                log.exception("result callback failed")

    def _write(self, batch: list[Item]) -> None:
        """Write ``batch``: retried while the store is unreachable or slow (the jobs stay leased to this
        process meanwhile); given up, and left to the lease's expiry, on any other failure."""
        logs = [doc for doc, _ in batch if doc is not None]
        attempts = list(logs)  # each integration's latest attempt, for the rollups
        changes = [change for _, change in batch]
        delay = 0.5
        while True:
            try:
                if logs:
                    _insert_logs(logs)
                    logs = []  # written: a retry after a later failure must not insert them twice
                apply_all(changes, attempts)  # (and the rollups of the jobs they settle: one bulk more)
                return
            except InvalidOperation as exc:  # the app's client was closed (the app is gone or replaced)
                log.warning("writing %d results failed (%s); their leases will expire", len(batch), exc)
                return
            except Exception as exc:
                if store_fault(exc) is None:
                    log.exception(
                        "writing %d results failed; their jobs will be retried when the leases expire",
                        len(batch),
                    )
                    return
                # Unreachable or slow: the jobs stay leased to us meanwhile; keep the results until it answers.
                log.warning(
                    "writing %d results failed (%s); retrying in %.1f s",
                    len(batch),
                    type(exc).__name__,
                    delay,
                )
                time.sleep(delay)
                delay = min(10.0, delay * 2)


def _insert_logs(logs: list[dict[str, Any]]) -> None:
    """Insert execution log rows. A retry after a timeout may find some written already (the store got
    them but its answer was lost): their ``_id``, given on the first try, is then taken, and that is fine."""
    try:
        PluginExecutionLog._get_collection().insert_many(logs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if exc.details.get("writeConcernErrors") or any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
