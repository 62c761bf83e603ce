"""What starts a workflow run: a form event (the integrations' blinker signals and conditions), an inbound
call, or a person ("run now"). Schedules are engine.workflow_schedule.

A form event's runs are added to the request's write unit (engine.write_unit): a run and its first job are
written with the submission, in the same ordered write as the integrations' jobs. A run's id follows from
the workflow and the event occurrence, so an event delivered twice starts one run. Where that write may stop
part-way (MongoDB: the submission keeps its pending-event marker), the crash sweep (engine.dispatch) sends
``event_recovered`` and the runs that were not written are started then.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask

from app import signals
from app.engine.conditions import Budget, OverBudget, parse_stored
from app.engine.dispatch import snapshot
from app.engine.workflow_runs import RecentRuns, RunLimitError, runs
from app.engine.write_unit import WriteUnit
from app.models import Workflow, WorkflowStatus
from app.services import services
from app.signals import FormEvent

log = logging.getLogger(__name__)


class FormWorkflows:
    """The active form-event workflows by form, as this process read them within FORM_CACHE_SECONDS (one
    read for all forms: a submission to a form without workflows costs no store round trip). A workflow
    saved through this process is seen at once (``forget``); one saved elsewhere within that time.
    Measured with engine.subscriptions' cache (both off with FORM_CACHE_SECONDS=0): intake 344 against 106
    req/s."""

    def __init__(self, max_age: float):
        self.max_age = max_age
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._by_form: dict[str, list[dict[str, Any]]] = {}

    def of(self, form_id: str) -> list[dict[str, Any]]:
        with self._lock:
            if time.monotonic() - self._read_at > self.max_age:
                by_form: dict[str, list[dict[str, Any]]] = {}
                query = {"trigger.type": "form_event", "status": WorkflowStatus.ACTIVE.value}
                for wf in Workflow._get_collection().find(query):
                    by_form.setdefault(wf["trigger"].get("form_id") or "", []).append(wf)
                self._by_form, self._read_at = by_form, time.monotonic()
            return self._by_form.get(form_id, [])

    def forget(self) -> None:
        with self._lock:
            self._read_at = float("-inf")


def form_workflows(app: Flask) -> FormWorkflows:
    return services(app).form_workflows


def workflows_for(app: Flask, event: FormEvent) -> list[dict[str, Any]]:
    """The active workflows a form event starts (their trigger's form and events)."""
    found = form_workflows(app).of(event.form_id)
    return [wf for wf in found if event.name in (wf["trigger"].get("events") or ["form.submitted"])]


def admits(workflow: dict[str, Any], event: FormEvent, data: Any, budget: Budget) -> bool:
    """The trigger's conditions (the integrations' rules) admit the event."""
    conditions = parse_stored(workflow["trigger"].get("conditions"))
    if conditions is None:
        return True
    try:
        return conditions.admits(event.name, data, event.previous_data, budget)
    except OverBudget:
        log.warning(
            "trigger conditions of workflow %s ran past their budget for %s", workflow["_id"], event.key
        )
        return False


def on_form_event(
    app: Flask, event: FormEvent, form: dict, submission: dict | None = None, unit: WriteUnit | None = None
) -> None:
    """Start the runs a form event triggers (added to ``unit`` when the request has one)."""
    engine = runs(app)
    budget = Budget()
    payload = snapshot(form, submission, event)
    recent = RecentRuns()  # the workspace's runs of the past minute, counted once for all its workflows
    for wf in workflows_for(app, event):
        if not admits(wf, event, (submission or {}).get("data"), budget):
            continue
        run, job = engine.new_run(wf, "form_event", payload, f"{wf['_id']}:{event.key}", recent=recent)
        try:
            engine.start(run, job, unit, recent)
        except RunLimitError:
            log.warning("workflow %s: %s", wf["_id"], run["error"])


def init_app(app: Flask) -> None:
    """Listen to the trigger signals, as the integrations' dispatch does."""

    def listener(
        sender: Flask,
        event: FormEvent,
        form: dict,
        submission: dict | None = None,
        unit: WriteUnit | None = None,
    ) -> None:
        on_form_event(sender, event, form, submission, unit)

    def recovered(sender: Flask, event: FormEvent, form: dict, submission: dict | None = None) -> None:
        """The crash sweep finishes the event's dispatch: start its runs that were not written (a run's id
        follows from the event, so one written before is not started again)."""
        on_form_event(sender, event, form, submission)

    shared = services(app)
    shared.form_workflows = FormWorkflows(app.config["FORM_CACHE_SECONDS"])
    shared.receivers.extend([listener, recovered])  # (blinker holds receivers weakly)
    for signal in signals.TRIGGERS.values():
        signal.connect(listener, sender=app)
    signals.event_recovered.connect(recovered, sender=app)
