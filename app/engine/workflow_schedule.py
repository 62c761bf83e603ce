"""Scheduled workflows (cron with a time zone) and the repair of workflow runs, as periodic work of every
scheduler (``register``: one line in engine.scheduler).

APScheduler's CronTrigger computes the due times; the next one is kept on the workflow (``next_fire_at``)
so that every process agrees on it and a time that passed while no process ran is still fired. A due time
fires exactly once however many processes look at once: its run's id and ``trigger_key`` follow from the
workflow and the time, so only one insert wins; the time is then moved on with a compare-and-set.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from apscheduler.triggers.cron import CronTrigger
from flask import Flask

from app.engine.workflow_runs import RunLimitError, runs
from app.engine.workflow_steps import trigger_payload
from app.models import Workflow, WorkflowStatus, as_datetime, isoformat
from app.store_health import store_fault

if TYPE_CHECKING:
    from app.engine.scheduler import Scheduler

log = logging.getLogger(__name__)

CATCH_UP = dt.timedelta(hours=1)  # a due time missed by longer than this (every process down) is skipped


def cron_trigger(cron: str, timezone: str) -> CronTrigger:
    """The trigger of a crontab line in an IANA time zone: 5 fields, or 6 with seconds first
    (``*/10 * * * * *``); ValueError when either is wrong."""
    fields = cron.split()
    try:
        if len(fields) == 6:
            second, minute, hour, day, month, day_of_week = fields
            return CronTrigger(
                second=second,
                minute=minute,
                hour=hour,
                day=day,
                month=month,
                day_of_week=day_of_week,
                timezone=timezone,
            )
        return CronTrigger.from_crontab(cron, timezone=timezone)
    except Exception as exc:  # (zoneinfo and APScheduler raise several kinds)
        raise ValueError(str(exc) or type(exc).__name__) from None


def next_fire(trigger: dict[str, Any], after: dt.datetime) -> dt.datetime | None:
    """The first due time of a schedule trigger strictly after ``after`` (aware UTC)."""
    cron = cron_trigger(trigger["cron"], trigger.get("timezone") or "UTC")
    found = cron.get_next_fire_time(None, after + dt.timedelta(microseconds=1))
    return found.astimezone(dt.UTC) if found else None


def fire_due(app: Flask, now: dt.datetime | None = None) -> int:
    """Start a run of every active schedule workflow whose due time has come; returns how many this call
    started (0 for those another process started first)."""
    now = now or dt.datetime.now(dt.UTC)
    coll = Workflow._get_collection()
    started = 0
    refused: set[str] = set()  # workspaces past twice their runs limit: the rest of their due times this pass
    # are refused unrecorded without asking the store (each cost two counts of the workspace's last minute of
    # runs, up to 1,200 of them, for nothing: a pass of every other workspace's due times waited behind them)
    for wf in coll.find(
        {
            "trigger.type": "schedule",
            "status": WorkflowStatus.ACTIVE.value,
            # due, or never worked out for this version (a save clears it): not every schedule every pass,
            # and never one that is never due again (``at`` None) until it is changed
            "$or": [{"next_fire_at.at": {"$lte": now.timestamp()}}, {"next_fire_at.at": {"$exists": False}}],
        }
    ):
        due = wf.get("next_fire_at") or {}
        try:
            if due.get("version") != wf.get("version") or "at" not in due:
                # from when it was saved (a time due between the save and this check still fires)
                saved = as_datetime(wf.get("updated_at")) or now.replace(tzinfo=None)
                since = max(saved.replace(tzinfo=dt.UTC), now - CATCH_UP)
                _move(coll, wf, due, next_fire(wf["trigger"], min(since, now)))
                continue
            at = dt.datetime.fromtimestamp(due["at"], dt.UTC)
            if at > now:
                continue
            if now - at <= CATCH_UP and wf.get("workspace_id") not in refused:
                started += _start(app, wf, at, refused)
            _move(coll, wf, due, next_fire(wf["trigger"], max(at, now - CATCH_UP)))
        except ValueError as exc:  # a schedule saved valid cannot become invalid; stay safe anyway
            log.warning("workflow %s has a schedule that cannot run: %s", wf["_id"], exc)
        except Exception as exc:  # one workflow's failure must not keep the others' due times from firing
            if store_fault(exc) is not None:
                raise
            log.exception("workflow %s: its due schedule could not be started", wf["_id"])
    return started


def _start(app: Flask, wf: dict[str, Any], at: dt.datetime, refused: set[str]) -> int:
    when = isoformat(at.replace(tzinfo=None)) or ""
    engine = runs(app)
    zone = (wf.get("trigger") or {}).get("timezone") or "UTC"
    payload = trigger_payload("schedule", {"fire_time": when, "timezone": zone}, wf, when)
    run, job = engine.new_run(wf, "schedule", payload, f"{wf['_id']}:cron:{when}")
    try:
        return int(engine.start(run, job))
    except RunLimitError as exc:
        if not exc.recorded:
            refused.add(wf["workspace_id"])
        return 1  # recorded as a failed run saying why (up to twice the limit)


def _move(coll: Any, wf: dict[str, Any], due: dict[str, Any], to: dt.datetime | None) -> None:
    """Compare-and-set the workflow's next due time from ``due`` (as read) to ``to``."""
    coll.update_one(
        {
            "_id": wf["_id"],
            "version": wf.get("version"),
            "next_fire_at.at": due.get("at"),
            "next_fire_at.version": due.get("version"),
        },
        {"$set": {"next_fire_at": {"at": to.timestamp() if to else None, "version": wf.get("version")}}},
    )


def check_schedules(s: Scheduler) -> None:
    """Start the runs of cron workflows that are due (one process wins each due time)."""
    if fire_due(s.app):
        s.wake()


def repair_runs(s: Scheduler) -> None:
    """Write the next step's job of runs whose step settled without it (a crash between the two)."""
    if runs(s.app).sweep(s.app.config["SWEEP_MIN_AGE"]):
        s.wake()
