"""Per-form retention: a background pass removes the submissions older than their form's ``retention_days``
with everything held about them (app/engine/removal.py), in small batches paced like an export (a share of
the time, resting in proportion to the work), within a time budget per pass, in one process at a time. The
batches follow their own measured latency (``Pace``): a slow one means the store is slow for everyone (each
batch holds it), so the next is smaller and the pass rests first, whatever the cores are doing.
Submissions with a delivery waiting or running are left for a later pass. Each form's removals of a day
add up in one record (``DataRemoval``, kind "retention"). The form's workflow report files holding a
submission past its retention go too (engine.host_steps.expire_form_files). Each pass first removes the
data of deleted forms the same way (``_deleted_forms``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from bson import ObjectId

from app.admin.export import cpus_contended, paced
from app.auth.locks import held
from app.config import SETTINGS
from app.engine import host_steps, removal
from app.errors import APIError
from app.models import DataRemoval, Form, PluginExecutionLog, PluginJob, Submission, utcnow
from app.models.figures import FormFigures, day_of
from app.models.search_terms import time_key

LOCK = "retention"
LAST_KEY = "\uffff"  # above every submission's sort_key
BATCH_SHARE_OF_DEADLINE = 0.1  # a batch should hold the store at most this share of a request's deadline


def batch_target(db_timeout_ms: float = SETTINGS["DB_TIMEOUT_MS"][1]) -> float:
    """The seconds a retention batch aims at, for a store deadline of ``db_timeout_ms``."""
    return float(db_timeout_ms) / 1000 * BATCH_SHARE_OF_DEADLINE


class Pace:
    """Retention's batch size from its own measured latency. A batch that took longer than ``target`` s
    halves the next one (down to 1) and makes the pass rest after it (``rest_now``, for ``paced``); a
    quick one (under half of ``target``) doubles the next, up to ``most``. It starts at a tenth of ``most``:
    the store may be busy already."""

    def __init__(self, most: int, target: float, cores_contended: Callable[[], bool] | None = None):
        self.most, self.target = max(1, most), target
        self.cores_contended = cores_contended or cpus_contended
        self.size = max(1, self.most // 10)
        self.slow = False

    def took(self, seconds: float) -> None:
        """A batch of ``size`` took ``seconds``."""
        self.slow = seconds > self.target
        if self.slow:
            self.size = max(1, self.size // 2)
        elif seconds < self.target / 2:
            self.size = min(self.most, self.size * 2)

    def rest_now(self) -> bool:
        """Whether the pass rests before its next batch: the last one was slow, or others want the cores."""
        return self.slow or self.cores_contended()


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
        target = batch_target(config["DB_TIMEOUT_MS"])
        batch, share = int(config["RETENTION_BATCH"]), float(config["RETENTION_SHARE"])
        return run_pass(batch, share, seconds, stopping, target)


def run_pass(
    batch: int,
    share: float,
    seconds: float,
    stopping: Callable[[], bool] = lambda: False,
    target: float | None = None,
) -> removal.Removed:
    """Remove deleted forms' data, then what the forms' retention says is too old, until done or ``seconds``
    have passed, in batches
    of at most ``batch`` whose size follows their latency (``Pace``, aiming at ``target`` s a batch)."""
    pace = Pace(batch, batch_target() if target is None else target)
    until = time.monotonic() + seconds
    now = utcnow()
    half = time.monotonic() + seconds / 2  # (deleted forms' data first, but never the whole pass)
    total = _deleted_forms(pace, share, lambda: stopping() or time.monotonic() > half)
    forms = Form._get_collection().find(
        {"retention_days": {"$gte": 1}}, {"workspace_id": 1, "retention_days": 1}
    )
    for form in list(forms):
        cutoff = now - dt.timedelta(days=int(form["retention_days"]))
        host_steps.expire_form_files(str(form["_id"]), cutoff)
        before = time_key(cutoff)
        done = removal.Removed()
        for docs in paced(_older(str(form["_id"]), before, lambda: pace.size), share, 1, pace.rest_now):
            started = time.monotonic()
            done += removal.remove(docs)
            pace.took(time.monotonic() - started)
            if stopping() or time.monotonic() > until:
                break
        if done.submissions or done.kept:
            _record(form, done, now)
        total += done
        if stopping() or time.monotonic() > until:
            break
    return total


def _deleted_forms(pace: Pace, share: float, over: Callable[[], bool]) -> removal.Removed:
    """The data of deleted forms (a ``DataRemoval`` "form_deletion" with ``remaining``), removed in the same
    paced batches: its submissions along their index, then any left without a key (stored before the search
    index) or kept (a delivery of theirs was running). Each record adds up what went, and is done when
    nothing is left. A record whose form is still there waits (its deletion may be under way)."""
    total = removal.Removed()
    pending = {"kind": {"$eq": "form_deletion"}, "remaining": {"$eq": True}}
    for rec in list(DataRemoval._get_collection().find(pending, {"form_id": 1})):
        if over():
            break
        if Form._get_collection().find_one({"_id": ObjectId(rec["form_id"])}, {"_id": 1}) is not None:
            continue
        done = removal.Removed()
        for docs in paced(_older(rec["form_id"], LAST_KEY, lambda: pace.size), share, 1, pace.rest_now):
            started = time.monotonic()
            done += removal.remove(docs)
            pace.took(time.monotonic() - started)
            if over():
                break
        else:
            done += _unkeyed(rec["form_id"], pace.size)
            done += _deliveries_left(rec["form_id"], pace.size)
        left = over() or Submission._get_collection().find_one({"form_id": {"$eq": rec["form_id"]}}, {"_id": 1})
        removal.add_to_record({"_id": rec["_id"]}, done, None, kept_now=True)
        if not left:
            FormFigures._get_collection().delete_many({"form_id": rec["form_id"]})
            DataRemoval._get_collection().update_one({"_id": rec["_id"]}, {"$set": {"remaining": False}})
        total += done
    return total


def _unkeyed(form_id: str, size: int) -> removal.Removed:
    """Remove the form's submissions the key range did not reach, ``size`` at a time, until only kept ones
    (a delivery running) are left."""
    done, coll = removal.Removed(), Submission._get_collection()
    while docs := list(coll.find({"form_id": {"$eq": form_id}}, removal.FIELDS, limit=size)):
        batch = removal.remove(docs)
        done += batch
        if batch.submissions == 0:
            break
    return done


def _deliveries_left(form_id: str, size: int) -> removal.Removed:
    """Remove the form's jobs and logs no submission holds (of ``form.updated``, say: their payloads hold
    the form), ``size`` at a time along their (form_id, time) indexes, by ``_id``."""
    done = removal.Removed()
    for model in (PluginJob, PluginExecutionLog):
        coll = model._get_collection()
        while ids := [doc["_id"] for doc in coll.find({"form_id": {"$eq": form_id}}, {"_id": 1}, limit=size)]:
            gone = coll.delete_many({"_id": {"$in": ids}}).deleted_count
            if model is PluginJob:
                done.jobs += gone
            else:
                done.logs += gone
    return done


def _older(form_id: str, before: str, batch: Callable[[], int]) -> Iterator[list[dict[str, Any]]]:
    """The form's submissions (deleted or not) received before the key ``before``, oldest first, ``batch()``
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
                removal.FIELDS,
                sort=[("sort_key", 1)],
                limit=batch(),
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
