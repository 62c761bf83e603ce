"""Form events → one durable PluginJob per subscribed, enabled config.

Crash safety: the API writes the form or submission together with a *pending event* marker, then sends
the trigger signal; the listener here creates the jobs (unique per event occurrence and config) and removes
the marker. If the process dies in between, ``sweep`` finds the marker and finishes the dispatch: jobs that
already exist are not created again, so each is created exactly once.

The intake writes the submission and its jobs as one ordered write (``engine.write_unit``; the listener adds
the jobs to the request's unit): on a store that writes it all or nothing the submission needs no marker,
elsewhere it carries one. Edits, deletes and form changes write the record with its marker, then the jobs.
The markers of a process's dispatches are removed afterwards in batches (``MarkerClearer``), off the
request.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import signal as signal_module
import time
from collections import defaultdict
from typing import Any, Protocol

from bson import ObjectId, json_util
from flask import Flask
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from app import signals
from app.engine.batching import Batcher
from app.engine.circuit import is_closed
from app.engine.conditions import Budget, OverBudget, parse_stored
from app.engine.group_commit import Part, is_duplicate
from app.engine.jobs import new_job
from app.engine.subscriptions import enabled_configs
from app.engine.write_unit import WriteUnit
from app.models import Form, PluginConfig, PluginJob, Submission, as_datetime, isoformat, utcnow
from app.services import services
from app.signals import FormEvent

log = logging.getLogger(__name__)


def event_key(name: str, owner_id: Any, revision: int) -> str:
    return f"{owner_id}:{revision}:{name}"


def pending_marker(
    name: str, owner_id: Any, revision: int, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The marker written with a form/submission change, removed once its jobs exist.

    An edit's marker keeps the data from before it, for conditions that fire only when newly matched.
    """
    marker = {"key": event_key(name, owner_id, revision), "name": name, "revision": revision, "at": utcnow()}
    if previous is not None:
        marker["previous"] = previous
    return marker


def snapshot(form: dict, submission: dict | None, event: FormEvent) -> dict[str, Any]:
    """What the event looked like when it happened; retries send this, not the record's later state."""
    fields = [{"name": f["name"], "label": f.get("label") or f["name"]} for f in form.get("fields", [])]
    sub = None
    if submission is not None:
        sub = {
            "id": str(submission["_id"]),
            "revision": submission.get("revision", 1),
            "created_at": isoformat(submission.get("created_at")),
            "updated_at": isoformat(submission.get("updated_at")),
        }
    return {
        "event": event.name,
        "form": {"id": str(form["_id"]), "name": form["name"], "fields": fields},
        "submission": sub,
        "data": submission.get("data") if submission is not None else None,
        "occurred_at": isoformat(event.occurred_at),
    }


def _subscribed_configs(
    event: FormEvent, submission: dict | None, enabled: list[dict]
) -> tuple[list[dict], list[dict], list[dict]]:
    """The ``enabled`` configs subscribed to the event whose conditions admit it, those they skip, and of
    those the ones whose conditions ran past the event's CPU budget (skipped: handled as not matching)."""
    subscribed = [c for c in enabled if event.name in (c.get("trigger_events") or [])]
    if submission is None:
        return subscribed, [], []
    # The request hands the data from before an edit over with the event; the sweep finds it in the marker.
    previous = (
        event.previous_data if event.previous_data is not None else _previous_data(submission, event.key)
    )
    admitted: list[dict] = []
    skipped: list[dict] = []
    over: list[dict] = []
    budget = Budget()  # one for all the event's conditions
    for config in subscribed:
        conditions = parse_stored(config.get("conditions"))
        try:
            admits = conditions is None or conditions.admits(
                event.name, submission.get("data"), previous, budget
            )
        except OverBudget:
            log.warning("conditions of integration %s ran past their budget for %s", config["_id"], event.key)
            admits = False
            over.append(config)
        (admitted if admits else skipped).append(config)
    return admitted, skipped, over


def pending_markers(doc: dict) -> list[dict[str, Any]]:
    """A document's pending-event markers.

    nx-27017 stores a document appended with ``$push`` as its extended-JSON text; MongoDB stores it as is.
    """
    return [json_util.loads(m) if isinstance(m, str) else m for m in doc.get("pending_events") or []]


def _previous_data(submission: dict, key: str) -> dict | None:
    for marker in pending_markers(submission):
        if marker.get("key") == key:
            return marker.get("previous")
    return None


def insert_jobs(coll: Collection, docs: list[dict]) -> list[dict]:
    """Insert jobs; those whose dispatch_key exists already are found instead of created again.

    Returns ``{"_id", "plugin_id", "config_id", "new"}`` for each of the event's jobs (``operation_id`` too for found ones).
    """
    if not docs:
        return []
    try:
        coll.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        return jobs_of(coll, docs, exc)
    return jobs_of(coll, docs, None)


def jobs_of(coll: Collection, docs: list[dict], error: BaseException | None) -> list[dict]:
    """The event's jobs (as ``insert_jobs`` returns them) once inserting ``docs`` ended with ``error``
    (None: all written). Only duplicate dispatch keys are expected: any other error is raised."""
    if error is None:
        return [
            {"_id": d["_id"], "plugin_id": d["plugin_id"], "config_id": d["config_id"], "new": True}
            for d in docs
        ]
    if not is_duplicate(error):
        raise error
    mine = {d["_id"] for d in docs}
    fields = {"plugin_id": 1, "config_id": 1, "operation_id": 1}
    # (a read per key, by equality: a $in on dispatch_key walks every job held on nx-27017)
    existing = [row for d in docs for row in coll.find({"dispatch_key": {"$eq": d["dispatch_key"]}}, fields)]
    return [{**d, "new": d["_id"] in mine} for d in existing]


class Handoff(Protocol):
    """A scheduler that takes jobs as they are created (engine.scheduler.Scheduler)."""

    def claim_at_insert(self, docs: list[dict]) -> list[dict]: ...

    def adopt(
        self, taken: list[dict], written: set[Any], configs: dict[str, dict], read_at: float
    ) -> None: ...


class EventJobs:
    """One event occurrence's jobs: built (and with a ``handoff``, the ones this process has idle threads
    for stamped as claimed by it) when made, then settled once their insert has an outcome.

    ``configs``: the form's enabled configs and the ``time.monotonic()`` they were read at (read from the
    store when not given); a job handed off runs with its config as given here.
    """

    def __init__(
        self,
        event: FormEvent,
        form: dict,
        submission: dict | None,
        max_attempts: int,
        handoff: Handoff | None = None,
        configs: tuple[list[dict], float] | None = None,
    ):
        self.event, self.form, self.submission, self.handoff = event, form, submission, handoff
        payload = snapshot(form, submission, event)
        enabled, self.read_at = (
            configs if configs is not None else (enabled_configs(event.form_id), time.monotonic())
        )
        self.subscribed, self.skipped, self.over_budget = _subscribed_configs(event, submission, enabled)
        self.docs = [
            new_job(
                config, form, submission, event.name, payload, f"{event.key}:{config['_id']}", max_attempts
            )
            for config in self.subscribed
        ]
        # Only jobs of closed circuits start at once: ``configs`` may be a moment old, and an open or
        # half-open circuit is decided on its latest state, read with a claim.
        closed = {str(c["_id"]) for c in self.subscribed if is_closed(c)}
        eligible = [doc for doc in self.docs if doc["config_id"] in closed]
        self.taken = handoff.claim_at_insert(eligible) if handoff is not None and eligible else []

    def settle(
        self,
        error: BaseException | None,
        attempted: bool = True,
        markers: MarkerClearer | None = None,
        keep_marker: bool = False,
    ) -> list[dict]:
        """After the insert of ``docs`` ended with ``error`` (None: written; ``attempted`` false: never
        tried, the event was not stored): start the handed-off jobs that were written, count the skipped
        configs, clear the event's pending marker (at once, or in a batch of ``markers``) unless
        ``keep_marker`` (another part of the request's write failed: the sweep finishes the event).

        Returns ``{"_id", "plugin_id", "config_id", "new", "running"}`` per job (``new`` is false for jobs
        an earlier dispatch made; ``running``: handed off). Raises ``error`` unless it was only jobs that
        existed already.
        """
        written: set[ObjectId] = set()
        try:
            jobs = jobs_of(PluginJob._get_collection(), self.docs, error) if attempted else []
            written = {job["_id"] for job in jobs if job["new"]}
        finally:
            if self.handoff is not None:
                configs = {str(c["_id"]): c for c in self.subscribed}
                self.handoff.adopt(self.taken, written, configs, self.read_at)
        if not attempted:
            return []
        if self.skipped:
            PluginConfig._get_collection().update_many(
                {"_id": {"$in": [c["_id"] for c in self.skipped]}}, {"$inc": {"skipped_events": 1}}
            )
        if self.over_budget:
            PluginConfig._get_collection().update_many(
                {"_id": {"$in": [c["_id"] for c in self.over_budget]}},
                {"$inc": {"conditions_over_budget": 1}},
            )
        running = {doc["_id"] for doc in self.taken}
        owner = Submission if self.submission is not None else Form
        owner_id = self.submission["_id"] if self.submission is not None else self.form["_id"]
        # (a submission stored with its jobs in one write that cannot stop part-way has no marker)
        if not keep_marker and (self.submission is None or self.submission.get("dispatch_pending")):
            if markers is None:
                clear_marker(owner._get_collection(), owner_id, self.event.key)
            else:
                markers.put((owner, owner_id, self.event.key))
        return [{**job, "running": job["new"] and job["_id"] in running} for job in jobs]


def dispatch(event: FormEvent, form: dict, submission: dict | None, max_attempts: int) -> list[dict]:
    """Create the event's jobs (idempotently) and clear its pending marker, outside a request (the crash
    sweep). Returns what ``EventJobs.settle`` does."""
    jobs = EventJobs(event, form, submission, max_attempts)
    error: BaseException | None = None
    try:
        if jobs.docs:
            PluginJob._get_collection().insert_many(jobs.docs, ordered=False)
    except BulkWriteError as exc:
        error = exc
    return jobs.settle(error)


def clear_marker(coll: Collection, owner_id: ObjectId, key: str) -> None:
    """Remove one pending-event marker; the common case (it is the only one) takes one round trip."""
    only = coll.update_one(
        {"_id": owner_id, "pending_events": {"$size": 1}, "pending_events.key": key},
        {"$set": {"pending_events": [], "dispatch_pending": False}},
    )
    if only.modified_count:
        return
    coll.update_one({"_id": owner_id}, {"$pull": {"pending_events": {"key": key}}})
    coll.update_one({"_id": owner_id, "pending_events": {"$size": 0}}, {"$set": {"dispatch_pending": False}})


class MarkerClearer(Batcher[tuple[type[Form] | type[Submission], ObjectId, str]]):
    """Markers of finished dispatches, removed in batches: one update for the common case.

    Deferring is safe: a marker still there (the process died first) only makes the sweep dispatch the
    event again after SWEEP_MIN_AGE, which finds the jobs by their dispatch_key and creates none.
    """

    name = "formhooks-markers"

    def write(self, batch: list[tuple[type[Form] | type[Submission], ObjectId, str]]) -> None:
        by_owner = defaultdict(list)
        for owner, owner_id, key in batch:
            by_owner[owner].append((owner_id, key))
        for owner, items in by_owner.items():
            coll = owner._get_collection()
            new: list[ObjectId] = []
            rest: list[tuple[ObjectId, str]] = []
            for owner_id, key in items:
                if owner is Submission and key == _submitted(owner_id):
                    new.append(owner_id)
                else:
                    rest.append((owner_id, key))
            cleared = 0
            if new:  # a submission still at revision 1 can have no marker but its form.submitted one
                cleared = coll.update_many(
                    {"_id": {"$in": new}, "revision": 1, "pending_events": {"$size": 1}},
                    {"$set": {"pending_events": [], "dispatch_pending": False}},
                ).modified_count
            if rest:
                # (nx-27017 matches an array's subfield by equality, not with $in: hence one $or branch each)
                cleared += coll.update_many(
                    {
                        "$or": [{"_id": owner_id, "pending_events.key": key} for owner_id, key in rest],
                        "pending_events": {"$size": 1},
                    },
                    {"$set": {"pending_events": [], "dispatch_pending": False}},
                ).modified_count
            if cleared < len(items):  # some had other markers too: one by one
                for owner_id, key in items:
                    clear_marker(coll, owner_id, key)


def _submitted(submission_id: ObjectId) -> str:
    return event_key(signals.form_submitted.name, submission_id, 1)


def sweep(max_attempts: int, min_age: float, app: Flask | None = None) -> int:
    """Finish dispatches left half-done by a crash: ``app``'s ``event_recovered`` listeners (its workflow
    runs), then the integrations' jobs. Returns how many events were dispatched."""
    cutoff = utcnow() - dt.timedelta(seconds=min_age)
    done = 0
    forms = Form._get_collection()
    for owner in (Submission, Form):
        for doc in owner._get_collection().find({"dispatch_pending": True}):
            form = doc if owner is Form else forms.find_one({"_id": ObjectId(doc["form_id"])})
            for marker in pending_markers(doc):
                if as_datetime(marker["at"]) > cutoff:
                    continue
                if form is None:  # the form was deleted meanwhile: nothing to deliver to
                    owner._get_collection().update_one(
                        {"_id": doc["_id"]}, {"$set": {"pending_events": [], "dispatch_pending": False}}
                    )
                    continue
                event = FormEvent(
                    name=marker["name"],
                    form_id=str(form["_id"]),
                    key=marker["key"],
                    occurred_at=as_datetime(marker["at"]),
                    submission_id=str(doc["_id"]) if owner is Submission else None,
                    revision=marker["revision"],
                    previous_data=marker.get("previous"),
                )
                submission = doc if owner is Submission else None
                if app is not None:  # (before the marker goes: a failure here leaves it for the next sweep)
                    signals.event_recovered.send(app, event=event, form=form, submission=submission)
                ids = dispatch(event, form, submission, max_attempts)
                log.warning("sweep: finished dispatch of %s (%d jobs)", marker["key"], len(ids))
                done += 1
    return done


def _announced(sender: Flask, jobs: list[dict]) -> list[ObjectId]:
    """Send ``job_created`` for the new ones of ``jobs``; their ids."""
    for job in jobs:
        if job["new"]:
            signals.job_created.send(
                sender,
                job_id=job["_id"],
                plugin_id=job["plugin_id"],
                config_id=job["config_id"],
                running=job["running"],
            )
    return [job["_id"] for job in jobs]


def init_app(app: Flask) -> None:
    """Connect the trigger signals: the listener adds the event's jobs to the view's write unit."""
    markers = MarkerClearer(max_delay=0.05, idle_exit=1.0)
    services(app).markers = markers
    atexit.register(markers.flush, 2.0)

    def on_trigger(
        sender: Flask, event: FormEvent, form: dict, unit: WriteUnit, submission: dict | None = None
    ) -> None:
        """Add the event's jobs to ``unit``: the view commits it and reads their ids from ``unit.job_ids``."""
        found = services(sender)
        planned = EventJobs(
            event,
            form,
            submission,
            sender.config["MAX_ATTEMPTS"],
            found.scheduler,
            found.subscriptions.configs(event.form_id),
        )
        if sender.config["FAULT_INJECTION"] == "crash_before_jobs":  # crash tests: die between the writes
            unit.write_in_part(len(unit.parts))  # what the request stored before its jobs, alone
            os.kill(os.getpid(), signal_module.SIGKILL)

        def settle(part: Part) -> list[ObjectId]:
            return _announced(
                sender, planned.settle(part.error, not part.skipped, markers, keep_marker=not unit.complete)
            )

        unit.add_jobs(found.inserts.jobs, planned.docs, settle)

    found = services(app)
    found.receivers.append(on_trigger)
    for signal in signals.TRIGGERS.values():
        signal.connect(on_trigger, sender=app)
