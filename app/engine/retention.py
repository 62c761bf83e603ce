"""Per-form retention: a background pass removes the submissions older than their form's ``retention_days``
with everything held about them (app/engine/removal.py), in small batches paced like an export (a share of
the time, resting in proportion to the work), within a time budget per pass, in one process at a time.
Submissions with a delivery waiting or running are left for a later pass. Each form's removals of a day
add up in one record (``DataRemoval``, kind "retention"). The form's workflow report files holding a
submission past its retention go too (engine.host_steps.expire_form_files)."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from app.admin.export import paced
from app.auth.locks import held
from app.engine import host_steps, removal
from app.errors import APIError
from app.models import Form, Submission, utcnow
from app.models.figures import day_of
from app.models.search_terms import time_key

LOCK = "retention"
FIELDS = {"_id": 1, "data": 1, "history": 1, "sort_key": 1, "workspace_id": 1}


class Runner:
    """Starts a pass in its own thread at each tick of the scheduler, unless one is still running: a pass
    rests most of its time, and must not hold one of the scheduler's few threads (leases, polls) meanwhile.
    ``housekeeping(what, task)`` runs it (the scheduler's: a store fault goes to the store's circuit)."""

    def __init__(
        self,
        housekeeping: Callable[[str, Callable[[], Any]], None],
        config: Mapping[str, Any],
        stopping: Callable[[], bool],
    ):
        self.housekeeping, self.config, self.stopping = housekeeping, config, stopping
        self.thread: threading.Thread | None = None

    def tick(self) -> None:
        if self.stopping() or (self.thread is not None and self.thread.is_alive()):
            return
        self.thread = threading.Thread(target=self._pass, name="formhooks-retention", daemon=True)
        self.thread.start()

    def _pass(self) -> None:
        self.housekeeping("retention", lambda: run(self.config, self.stopping))


def run(config: Mapping[str, Any], stopping: Callable[[], bool] = lambda: False) -> removal.Removed:
    """One pass (RETENTION_BATCH submissions at a time, busy RETENTION_SHARE of the time, for at most
    RETENTION_PASS_SECONDS); nothing when another process runs one."""
    seconds = float(config["RETENTION_PASS_SECONDS"])
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(held(LOCK, lease=seconds + 30.0, wait=0.0))
        except APIError:  # another process holds the pass
            return removal.Removed()
        return run_pass(int(config["RETENTION_BATCH"]), float(config["RETENTION_SHARE"]), seconds, stopping)


def run_pass(
    batch: int, share: float, seconds: float, stopping: Callable[[], bool] = lambda: False
) -> removal.Removed:
    """Remove what the forms' retention says is too old, until done or ``seconds`` have passed."""
    until = time.monotonic() + seconds
    now = utcnow()
    total = removal.Removed()
    forms = Form._get_collection().find(
        {"retention_days": {"$gte": 1}}, {"workspace_id": 1, "retention_days": 1}
    )
    for form in list(forms):
        cutoff = now - dt.timedelta(days=int(form["retention_days"]))
        host_steps.expire_form_files(str(form["_id"]), cutoff)
        before = time_key(cutoff)
        done = removal.Removed()
        for docs in paced(_older(str(form["_id"]), before, batch), share, every=1):
            done += removal.remove(docs)
            if stopping() or time.monotonic() > until:
                break
        if done.submissions or done.kept:
            _record(form, done, now)
        total += done
        if stopping() or time.monotonic() > until:
            break
    return total


def _older(form_id: str, before: str, batch: int) -> Iterator[list[dict[str, Any]]]:
    """The form's submissions (deleted or not) received before the key ``before``, oldest first, ``batch``
    at a time, from the (form_id, deleted, sort_key) index."""
    coll = Submission._get_collection()
    for deleted in (False, True):
        last = ""
        while docs := list(
            coll.find(
                {
                    "form_id": {"$eq": form_id},
                    "deleted": {"$eq": deleted},
                    "sort_key": {"$gt": last, "$lt": before},
                },
                FIELDS,
                sort=[("sort_key", 1)],
                limit=batch,
            )
        ):
            yield docs
            last = docs[-1]["sort_key"]


def _record(form: dict[str, Any], done: removal.Removed, now: dt.datetime) -> None:
    day = day_of(now)
    removal.add_to_record(
        {"kind": "retention", "form_id": str(form["_id"]), "day": day},
        done,
        {
            "workspace_id": form.get("workspace_id"),
            "detail": f"older than {form['retention_days']} days",
        },
        kept_now=True,
    )
