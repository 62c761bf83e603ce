"""Attempt results written in batches: execution logs, job changes and what they settle added to the
delivery rollups (engine.rollups) — in one client-level bulkWrite on a store that writes one all or nothing
(the embedded store), else with one insert_many, one bulk_write and one more for the rollups.

A result waits at most ``max_delay`` seconds (or until ``max_batch`` results are waiting) before it is
written. This is safe: until its change is written, a job is still leased to this process, so if the
process dies first the job is reaped and run again — at-least-once, under the same idempotency key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bson import ObjectId
from pymongo import InsertOne
from pymongo.errors import BulkWriteError, InvalidOperation

from app.engine.batching import Batcher
from app.engine.jobs import Change, apply_all, apply_all_with
from app.models import PluginExecutionLog
from app.store import DUPLICATE_KEY
from app.store_health import store_fault

log = logging.getLogger(__name__)

Item = tuple[dict[str, Any] | None, Change, Callable[[], object] | None]


class ResultWriter(Batcher[Item]):
    """Writes results on its thread, in batches; ``inline``: at once, in the submitting thread."""

    name = "formhooks-writer"

    def __init__(self, atomic: Callable[[], bool], *, inline: bool = False, busy_delay: float | None = None):
        """``atomic``: whether the store writes a client-level bulkWrite all or nothing (the intake's group
        insert asks it once: ``GroupInsert.atomic``)."""
        self.inline = inline
        self._atomic = atomic
        super().__init__(busy_delay=busy_delay, idle_exit=1.0 if inline else None)

    def submit(
        self,
        log_doc: dict[str, Any] | None,
        change: Change,
        then: Callable[[], object] | None = None,
        urgent: bool = False,
    ) -> None:
        """Queue one attempt's log row and job change; ``then`` runs once they are written. ``urgent``
        (a workflow step settling: its run's next step waits for ``then``): written without waiting for
        a batch to fill."""
        if self.inline:
            self.write([(log_doc, change, then)])
        else:
            self.put((log_doc, change, then), urgent)

    def _one_command(self) -> bool:
        """Whether a batch goes in one client-level bulkWrite (False while the store has not answered)."""
        return self._atomic()

    def write(self, batch: list[Item]) -> None:
        logs = [doc for doc, _, _ in batch if doc is not None]
        for doc in logs:  # (ids given before the first try: a retry finds those written, not copies)
            doc.setdefault("_id", ObjectId())
        attempts = list(logs)  # each integration's latest attempt, for the rollups
        changes = [change for _, change, _ in batch]
        delay = 0.5
        written = False
        while True:
            try:
                if self._one_command():  # log rows, job changes and rollups in one write
                    ns = PluginExecutionLog._get_collection().full_name
                    apply_all_with(changes, attempts, [InsertOne(doc, namespace=ns) for doc in logs])
                else:
                    if logs:
                        _insert_logs(logs)
                        logs = []  # written: a retry after a later failure must not insert them twice
                    apply_all(changes, attempts)  # (and the rollups of the jobs they settle: one bulk more)
                written = True
                break
            except InvalidOperation as exc:  # the app's client was closed (the app is gone or replaced)
                log.warning("writing %d results failed (%s); their leases will expire", len(batch), exc)
                break
            except Exception as exc:
                if store_fault(exc) is None and len(batch) > 1:
                    # one result the store refuses must not fail the others (of any workspace): each alone
                    log.warning("writing %d results failed (%s); writing them one by one", len(batch), exc)
                    for item in batch:
                        self.write([item])
                    return
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
        if not written:  # (the jobs run again when their leases expire: what follows a result waits for it)
            return
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
