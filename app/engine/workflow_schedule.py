"""Scheduled workflows (cron with a time zone) and the repair of workflow runs, as periodic work of every
scheduler (``register``: one line in engine.scheduler).

APScheduler's CronTrigger computes the due times; the next one is kept on the workflow (``next_fire_at``)
so that every process agrees on it and a time that passed while no process ran is still fired. A due time
fires exactly once however many processes look at once: its run's id and ``trigger_key`` follow from the
workflow and the time, so only one insert wins; the time is then moved on with a compare-and-set.
A pass handles at most SHARE due times of each workspace, in turns, and reads each workspace's runs of the
past minute once: a workspace's hundreds of due schedules cannot slow every other workspace's.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from apscheduler.triggers.cron import CronTrigger
from flask import Flask

from app.engine.workflow_runs import RecentRuns, RunLimitError, runs
from app.engine.workflow_steps import trigger_payload
from app.models import Workflow, WorkflowStatus, as_datetime, isoformat
from app.store_health import store_fault

if TYPE_CHECKING:
    from app.engine.scheduler import Scheduler

log = logging.getLogger(__name__)

CATCH_UP = dt.timedelta(hours=1)  # a due time missed by longer than this (every process down) is skipped
# due times of one workspace a pass handles, the rest staying due for the next pass (50 a pass each 5 s:
# the default runs limit, 600 a minute)
SHARE = 50


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


def _due(now: dt.datetime) -> dict[str, Any]:
    """The query of active schedule workflows that are due, or never worked out for their version (a save
    clears it): not every schedule every pass, and never one that is never due again (``at`` None) until
    it is changed."""
    return {
        "trigger.type": "schedule",
        "status": WorkflowStatus.ACTIVE.value,
        "$or": [{"next_fire_at.at": {"$lte": now.timestamp()}}, {"next_fire_at.at": {"$exists": False}}],
    }


def shares(due: list[dict[str, Any]], share: int) -> list[dict[str, Any]]:
    """At most ``share`` of each workspace's ``due`` (``workspace_id``, ``next_fire_at``), its earliest
    first, taken in turns across workspaces: the first of each, then the second of each, ... (a workspace
    with hundreds due cannot make another's one due time wait behind them, in this pass or the next)."""
    by_workspace: dict[Any, list[dict[str, Any]]] = {}
    for wf in sorted(due, key=_due_at):
        by_workspace.setdefault(wf.get("workspace_id"), []).append(wf)
    turns = [wfs[:share] for wfs in by_workspace.values()]
    return [wfs[turn] for turn in range(share) for wfs in turns if turn < len(wfs)]


def _due_at(wf: dict[str, Any]) -> float:
    at = (wf.get("next_fire_at") or {}).get("at")
    return at if isinstance(at, int | float) else float("-inf")  # (not worked out yet: first)


def fire_due(app: Flask, now: dt.datetime | None = None) -> int:
    """Start a run of active schedule workflows whose due time has come, up to SHARE due times of each
    workspace (the rest stay due for the next pass); returns how many this call started (0 for those
    another process started first)."""
    now = now or dt.datetime.now(dt.UTC)
    coll = Workflow._get_collection()
    # what is due, small (id, workspace, due time), then only the share of each workspace whole
    due = shares(list(coll.find(_due(now), {"workspace_id": 1, "next_fire_at": 1})), SHARE)
    if not due:
        return 0
    found = {wf["_id"]: wf for wf in coll.find({**_due(now), "_id": {"$in": [wf["_id"] for wf in due]}})}
    started = 0
    recent = RecentRuns()  # each workspace's runs of the past minute, read once this pass
    refused: set[str] = set()  # workspaces past twice their runs limit: the rest of their due times this pass
    # are refused unrecorded without planning them
    for wf in (found[d["_id"]] for d in due if d["_id"] in found):
        due_at = wf.get("next_fire_at") or {}
        try:
            if due_at.get("version") != wf.get("version") or "at" not in due_at:
                # from when it was saved (a time due between the save and this check still fires)
                saved = as_datetime(wf.get("updated_at")) or now.replace(tzinfo=None)
                since = max(saved.replace(tzinfo=dt.UTC), now - CATCH_UP)
                _move(coll, wf, due_at, next_fire(wf["trigger"], min(since, now)))
                continue
            at = dt.datetime.fromtimestamp(due_at["at"], dt.UTC)
            if at > now:
                continue
            if now - at <= CATCH_UP and wf.get("workspace_id") not in refused:
                started += _start(app, wf, at, refused, recent)
            _move(coll, wf, due_at, next_fire(wf["trigger"], max(at, now - CATCH_UP)))
        except ValueError as exc:  # a schedule saved valid cannot become invalid; stay safe anyway
            log.warning("workflow %s has a schedule that cannot run: %s", wf["_id"], exc)
            _skip(coll, wf, due_at, now)
        except Exception as exc:  # one workflow's failure must not keep the others' due times from firing
            if store_fault(exc) is not None:
                raise
            log.exception("workflow %s: its due schedule could not be started", wf["_id"])
            _skip(coll, wf, due_at, now)
    return started


def _skip(coll: Any, wf: dict[str, Any], due: dict[str, Any], now: dt.datetime) -> None:
    """Move a due time that failed for a reason of its own (not the store's) on, once logged: tried again on
    every pass, it failed and logged again each time. A schedule whose next time cannot be worked out is
    never due again until it is changed."""
    try:
        to = next_fire(wf["trigger"], now)
    except (ValueError, KeyError, TypeError):
        to = None
    _move(coll, wf, due, to)


def _start(app: Flask, wf: dict[str, Any], at: dt.datetime, refused: set[str], recent: RecentRuns) -> int:
    when = isoformat(at.replace(tzinfo=None)) or ""
    engine = runs(app)
    zone = (wf.get("trigger") or {}).get("timezone") or "UTC"
    payload = trigger_payload("schedule", {"fire_time": when, "timezone": zone}, wf, when)
    run, job = engine.new_run(wf, "schedule", payload, f"{wf['_id']}:cron:{when}", recent=recent)
    try:
        return int(engine.start(run, job, recent=recent))
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
