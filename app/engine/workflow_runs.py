"""The one owner of workflow run state: every change of a run's status and of its steps' records is made
here (tests/engine/test_job_owner.py checks that no other module writes a run's status).

A run is a workflow's pinned steps walked in order; each step that runs is a PluginJob (engine.jobs), whose
id, dispatch key and idempotency key (``run:<run_id>:<step>``) follow from the run and the step. When a
step's job settles (completed, or failed for good), the runner calls ``settled`` where it records the
job's outcome: the step's record is written, then the next step's job is planned and written. Planning is
deterministic, so doing it twice (a repeat, or the sweep after a crash between the two writes) writes
each job once.

    (start) ─► running ─(last step settled)─► succeeded | failed (a step failed with on_error stop)
                  │  ▲
                  │  └── retry (from the failed step) ── failed
                  └─ cancel ─► cancelled
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import bson
from bson import ObjectId
from flask import Flask
from pymongo.errors import DuplicateKeyError

from app import signals
from app.contract.registry import PluginRegistry
from app.engine import jobs
from app.engine.conditions import OverBudget, parse_stored
from app.engine.dispatch import Handoff
from app.engine.group_commit import Into, is_duplicate
from app.engine.host_steps import step_plugin
from app.engine.records import JobRecord
from app.engine.slots import share_of
from app.engine.turns import Turns
from app.engine.workflow_steps import StepError, condition_data, rendered, step_payload
from app.engine.write_unit import WriteUnit
from app.models import PluginExecutionLog, PluginJob, RunStatus, StepStatus, WorkflowRun, as_datetime, utcnow
from app.models.newest import rows_since
from app.secrets_box import SecretBox
from app.services import services

log = logging.getLogger(__name__)

RUNNING, SUCCEEDED = RunStatus.RUNNING.value, RunStatus.SUCCEEDED.value
FAILED, CANCELLED = RunStatus.FAILED.value, RunStatus.CANCELLED.value
STEP_DONE = (StepStatus.SUCCEEDED.value, StepStatus.FAILED.value, StepStatus.SKIPPED.value)
RUN_THREADS = 2  # threads that move runs on as their steps settle (a few store round trips each), taking
# workspaces in turns, one workspace at most WORKSPACE_SHARE of them (engine.turns)
SWEEP_PAGE = 1000  # running runs a read of the repair pass
OVER_LIMIT = "The workspace started more than {limit} workflow runs in the past minute; this one did not run."
OUTSIDE = ("form_event", "inbound")  # runs others start: counted apart from the workspace's own (bytes_field)
OVER_BYTES = (
    "This run would carry {size:,} bytes (its trigger data once for each step), over the {limit:,} bytes the "
    "workspace's runs may start with per minute; it did not run. Send less data, or try again in a minute."
)


class RunStateError(Exception):
    """A change the run's state does not allow; the message says why, for people."""


class RunLimitError(Exception):
    """The workspace is over its runs per minute; ``run`` is the failed run recorded for it (``recorded``:
    past twice the limit a refusal is not recorded, so that calls past it cannot fill the store)."""

    def __init__(self, run: dict[str, Any], recorded: bool = True):
        super().__init__(run["error"])
        self.run, self.recorded = run, recorded


def run_id_for(trigger_key: str) -> ObjectId:
    """A run's id from its trigger occurrence: every process that sees the same occurrence agrees on it."""
    return ObjectId(hashlib.sha256(trigger_key.encode()).digest()[:12])


def _coll() -> Any:
    return WorkflowRun._get_collection()


def bytes_field(kind: str, replay_of: str | None = None) -> str:
    """The run field its bytes are counted in: runs that others start (a form's public submissions, inbound
    calls) and runs the workspace starts (by hand, schedules, replays of any run: ``replay_of``) have a bytes
    budget each, so that a stranger filling a public form cannot spend the owner's."""
    return "outside_bytes" if kind in OUTSIDE and replay_of is None else "bytes"


class RecentRuns:
    """Each workspace's runs of the past minute and their bytes (what the runs and bytes limits count) over
    one pass of work that starts many: read from the store once per workspace, then carried, one more for
    each run the pass records. (Read per due time, 300 due schedules of one workspace made every pass, and
    every workspace's due times, wait tens of seconds.) Runs other processes start meanwhile are seen by the
    next pass. A new one for each call reads the store's figures afresh."""

    def __init__(self) -> None:
        self._usage: dict[str, dict[str, int]] = {}

    def __call__(self, workspace_id: str, outside: bool = False) -> int:
        """The workspace's runs of the past minute that others started (``outside``), or that it started."""
        usage = self._of(workspace_id)
        return usage["outside_n"] if outside else usage["n"] - usage["outside_n"]

    def bytes(self, workspace_id: str, counted_in: str = "bytes") -> int:
        """The bytes the workspace's runs of the past minute started with (``run_bytes``), as counted in
        ``counted_in`` (``bytes_field``)."""
        return self._of(workspace_id)[counted_in]

    def add(self, run: dict[str, Any]) -> None:
        """``run`` was recorded."""
        usage = self._of(run["workspace_id"])
        usage["n"] += 1
        for key in ("outside_n", "bytes", "outside_bytes"):
            usage[key] += run.get(key) or 0

    def _of(self, workspace_id: str) -> dict[str, int]:
        if workspace_id not in self._usage:
            self._usage[workspace_id] = recent_usage(workspace_id)
        return self._usage[workspace_id]


def recent_usage(workspace_id: str) -> dict[str, int]:
    """The runs of ``workspace_id`` created in the past minute (``n``, of which others started
    ``outside_n``) and their ``bytes`` and ``outside_bytes``, as the store has them: newest first along
    (workspace_id, created_at) until an older one (as a match of the time beside the workspace, a walk of
    every run it holds, inside the intake's request)."""
    since = utcnow() - dt.timedelta(seconds=60)
    fields = {"outside_n": 1, "bytes": 1, "outside_bytes": 1}
    found = list(rows_since(_coll(), ("workspace_id", workspace_id), "created_at", since, fields))
    sums = {key: sum(int(run.get(key) or 0) for run in found) for key in fields}
    return {"n": len(found), **sums}


def run_bytes(payload: Any, steps: int) -> int:
    """What a run weighs against the bytes limit: its trigger data as stored, once for each step (every
    step's job carries it)."""
    try:
        size = len(bson.encode({"data": payload}))
    except Exception:  # noqa: BLE001  (not a document the store takes as it is: its JSON size)
        size = len(json.dumps(payload, default=str))
    return size * max(1, steps)


@dataclass
class Plan:
    """What walking a run's steps from one index came to: records to write, the job to create (if any),
    where the run is, and its final status when no step is left to run."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    job: dict[str, Any] | None = None
    current: int = 0
    status: str | None = None
    error: str | None = None


class Runs:
    """Workflow runs of one app: starts them, moves them on as their steps settle, repairs and changes them."""

    def __init__(self, app: Flask):
        # (the app itself, not a request's ``current_app`` proxy: the runner's threads use it too)
        self.app: Flask = getattr(app, "_get_current_object", lambda: app)()
        self.registry: PluginRegistry = services(app).plugins
        self.box: SecretBox = services(app).secrets
        share = share_of(RUN_THREADS, float(app.config["WORKSPACE_SHARE"]))
        self._threads = Turns(RUN_THREADS, "formhooks-runs", per_owner=share)

    # -- start -------------------------------------------------------------------------------------------

    def new_run(
        self,
        workflow: dict[str, Any],
        kind: str,
        payload: dict[str, Any],
        trigger_key: str,
        steps: list[dict[str, Any]] | None = None,
        version: int | None = None,
        replay_of: str | None = None,
        recent: RecentRuns | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """A run of ``workflow`` (its steps as they are now, or the pinned ``steps`` of ``version``) and its
        first step's job, planned, not written. Over the workspace's runs per minute, the run is failed
        (``recent``: the pass's counts, else the store's)."""
        now = utcnow()
        run: dict[str, Any] = {
            "_id": run_id_for(trigger_key),
            "workflow_id": str(workflow["_id"]),
            "workspace_id": workflow["workspace_id"],
            "name": workflow.get("name"),
            "version": version if version is not None else workflow.get("version", 1),
            "steps": steps if steps is not None else list(workflow.get("steps") or []),
            "trigger": {"type": kind, "key": trigger_key, "data": payload},
            "trigger_key": trigger_key,
            "status": RUNNING,
            "records": {},
            "current": 0,
            "error": None,
            "replay_of": replay_of,
            "created_at": now,
            "updated_at": now,
            "finished_at": None,
        }
        usage = recent or RecentRuns()
        workspace_id = workflow["workspace_id"]
        limit = int(self.app.config["WORKFLOW_RUNS_PER_MINUTE"])
        bytes_limit = int(self.app.config["WORKFLOW_BYTES_PER_MINUTE"])
        size, counted_in = run_bytes(payload, len(run["steps"])), bytes_field(kind, replay_of)
        outside = counted_in == "outside_bytes"  # (a replay is the workspace's own, whatever it replays)
        run["outside_n"] = int(outside)  # (what the runs per minute of others' runs add up)
        if limit > 0 and usage(workspace_id, outside) >= limit:
            run.update(status=FAILED, error=OVER_LIMIT.format(limit=limit), finished_at=now)
            return run, None
        if bytes_limit > 0 and usage.bytes(workspace_id, counted_in) + size > bytes_limit:
            # (recorded without the data it would have carried: the refusal must not cost what it refuses)
            run["trigger"]["data"] = {"omitted": f"{size:,} bytes for its {len(run['steps'])} steps"}
            error = OVER_BYTES.format(size=size, limit=bytes_limit)
            run.update(status=FAILED, error=error, finished_at=now)
            return run, None
        run[counted_in] = size
        plan = self.plan(run, 0)
        self._apply_plan(run, plan)
        return run, plan.job

    @staticmethod
    def _apply_plan(run: dict[str, Any], plan: Plan) -> None:
        run["records"] = {**run.get("records", {}), **plan.records}
        run["current"] = plan.current
        if plan.job is not None:
            run["wake_at"] = plan.job["scheduled_for"]
        if plan.status is not None:
            run.update(status=plan.status, error=plan.error, finished_at=utcnow())

    def start(
        self,
        run: dict[str, Any],
        job: dict[str, Any] | None,
        unit: WriteUnit | None = None,
        recent: RecentRuns | None = None,
    ) -> bool:
        """Write a run planned by ``new_run`` and then its first job (with ``unit``: added to it, written
        with the request's other documents). False when the run existed already (the same trigger
        occurrence was started before, by this process or another): nothing is written then.
        A crash between the two writes is repaired by ``sweep``. ``recent``: as given to ``new_run``
        (a run written counts in it)."""
        refused = job is None and run["status"] == FAILED and not run["records"]  # by the runs limit
        limit = int(self.app.config["WORKFLOW_RUNS_PER_MINUTE"])
        counted = (recent or RecentRuns())(run["workspace_id"], bool(run.get("outside_n")))
        if refused and limit > 0 and counted >= 2 * limit:
            raise RunLimitError(run, recorded=False)
        if unit is not None:
            unit.add(Into(unit.group, WorkflowRun._get_collection), [run])
            if recent is not None:
                recent.add(run)
            if job is not None:
                unit.add_jobs(services(self.app).inserts.jobs, [job], lambda part: self._announce(job, part))
            return True
        try:
            _coll().insert_one(run)
        except DuplicateKeyError:
            # the same occurrence again; one the runs limit refused is started now (a sender's retry of a
            # call answered 429, with the same webhook-id, would otherwise be told 200 and drop its event)
            refusal = {"_id": run["_id"], "status": FAILED, "records": {}}
            if not _coll().replace_one(refusal, run).matched_count:
                return False
        if recent is not None:
            recent.add(run)
        if refused:
            raise RunLimitError(run)
        if job is not None:
            self._write_job(job)
        return True

    def _announce(self, job: dict[str, Any], part: Any = None, running: bool = False) -> list[Any]:
        if part is None or part.written:
            signals.job_created.send(
                self.app,
                job_id=job["_id"],
                plugin_id=job["plugin_id"],
                config_id=job["config_id"],
                running=running,
            )
        return []  # the intake lists its integrations' jobs only

    def _write_job(self, job: dict[str, Any]) -> None:
        """Insert a step's job; one that exists already (its id follows from the run and step) is kept.
        When this process's scheduler has room, the job is written claimed by it and starts at once (as
        a new submission's jobs do: engine.dispatch's hand-off)."""
        handoff: Handoff | None = services(self.app).scheduler
        due_now = job["scheduled_for"] <= time.time()  # (a step with a delay waits in the store)
        taken = handoff.claim_at_insert([job]) if handoff is not None and due_now else []
        written: set[Any] = set()
        try:
            PluginJob._get_collection().insert_one(job)
            written.add(job["_id"])
        except DuplicateKeyError:
            return
        except Exception as exc:
            if not is_duplicate(exc):
                raise
            return
        finally:
            if handoff is not None:
                handoff.adopt(taken, written, {}, time.monotonic())  # (a step's job carries its config)
        self._announce(job, running=bool(taken))

    # -- planning ----------------------------------------------------------------------------------------

    def plan(self, run: dict[str, Any], index: int) -> Plan:
        """Walk ``run``'s steps from ``index``: skip those whose condition does not match, fail those that
        cannot run as configured (on_error decides whether the walk goes on), stop at the first to run."""
        plan = Plan(current=index)
        steps = run["steps"]
        trigger = (run.get("trigger") or {}).get("data") or {}
        for i in range(index, len(steps)):
            step, now = steps[i], utcnow()
            records = {**run.get("records", {}), **plan.records}
            payload = step_payload(trigger, steps, records)
            plan.current = i
            if not self._admits(step, payload):
                plan.records[step["name"]] = {"status": StepStatus.SKIPPED.value, "finished_at": now}
                continue
            plugin = step_plugin(self.registry, step["plugin_id"])
            try:
                if plugin is None:
                    raise StepError(f"Plugin {step['plugin_id']!r} is not installed.")
                sealed, shown = rendered(plugin, self.box, step.get("config") or {}, payload)
            except StepError as exc:
                plan.records[step["name"]] = {
                    "status": StepStatus.FAILED.value,
                    "error": str(exc),
                    "started_at": now,
                    "finished_at": now,
                    "duration_ms": 0,
                }
                if step.get("on_error", "stop") == "continue":
                    continue
                plan.status, plan.error = FAILED, f"Step {step['name']!r} failed: {exc}"
                return plan
            plan.job = jobs.new_step_job(run, i, payload, sealed, self._attempts(step))
            plan.records[step["name"]] = {
                "status": StepStatus.PENDING.value,
                "job_id": str(plan.job["_id"]),
                "input": shown,
                "created_at": now,
            }
            return plan
        plan.current = len(steps)
        failed = [
            name
            for name, record in {**run.get("records", {}), **plan.records}.items()
            if record.get("status") == StepStatus.FAILED.value
        ]
        plan.status = SUCCEEDED
        if failed:  # only steps with on_error "continue" failed: the run went on, and says so
            plan.error = f"Steps that failed and were passed over: {', '.join(failed)}."
        return plan

    def _attempts(self, step: dict[str, Any]) -> int:
        """A step's attempt budget: ``retries`` + 1 with on_error "retry", else the app's MAX_ATTEMPTS."""
        if step.get("on_error") == "retry":
            return int(step.get("retries") or 0) + 1
        return int(self.app.config["MAX_ATTEMPTS"])

    @staticmethod
    def _admits(step: dict[str, Any], payload: dict[str, Any]) -> bool:
        conditions = parse_stored(step.get("condition"))
        if conditions is None:
            return True
        try:
            return conditions.matches(condition_data(payload))
        except OverBudget:
            return False

    # -- a step's job settled ----------------------------------------------------------------------------

    def settle_later(
        self, job: JobRecord, succeeded: bool, output: dict[str, Any] | None, error: str | None, duration: float
    ) -> None:
        """``settled``, on this app's run threads (off the thread that writes attempts' results), the job's
        workspace in turn with the others (one whose steps are slow to plan cannot hold theirs back)."""

        def run() -> None:
            try:
                self.settled(job, succeeded, output, error, duration)
            except Exception:  # the sweep moves the run on later
                log.exception("moving run %s on after step %s failed", job.get("run_id"), job.get("step"))

        self._threads.submit(str(job.get("workspace_id") or ""), run)

    def settled(
        self,
        job: JobRecord,
        succeeded: bool,
        output: dict[str, Any] | None,
        error: str | None,
        duration: float | None = None,
        run: dict[str, Any] | None = None,
    ) -> None:
        """Record how step ``job["step"]`` of its run ended, then plan and write what follows: the step's
        record and where the run is, in one update, then the next step's job. Safe to call again
        for the same job (a repeat, the sweep): each is written once. ``run``: the run as the caller has
        just read it (else it is read here)."""
        run_id, index = ObjectId(job["run_id"]), int(job.get("step") or 0)
        if run is None:
            run = _coll().find_one({"_id": run_id})
        if run is None or index >= len(run["steps"]):
            return
        name = run["steps"][index]["name"]
        before = (run.get("records") or {}).get(name) or {}
        if before.get("status") in STEP_DONE:  # recorded already: only what follows may be missing
            self._move_on(run, index)
            return
        run["records"] = {
            **(run.get("records") or {}),
            name: {
                **before,
                "status": StepStatus.SUCCEEDED.value if succeeded else StepStatus.FAILED.value,
                "job_id": str(job["_id"]),
                "output": output or {},
                "error": error,
                "attempts": int(job.get("attempts") or 0),
                "started_at": job.get("started_at"),
                "finished_at": utcnow(),
                "duration_ms": None if duration is None else int(duration * 1000),
            },
        }
        self._move_on(run, index, settling=name)

    def _move_on(self, run: dict[str, Any], index: int, settling: str | None = None) -> None:
        """After step ``index`` settled (its record in ``run``; written with this update when ``settling``
        names it): plan the next step (or the run's end) and write it, once."""
        if run["status"] != RUNNING or run.get("current") != index:
            if settling is not None and run["status"] == CANCELLED:
                self._record_after_cancel(run["_id"], settling, run["records"][settling])
            return
        step = run["steps"][index]
        record = (run.get("records") or {}).get(step["name"]) or {}
        if record.get("status") not in STEP_DONE:
            return
        if record["status"] == StepStatus.FAILED.value and step.get("on_error", "stop") != "continue":
            plan = Plan(
                current=index, status=FAILED, error=f"Step {step['name']!r} failed: {record.get('error')}"
            )
        else:
            plan = self.plan(run, index + 1)
        match: dict[str, Any] = {"_id": run["_id"], "status": RUNNING, "current": index}
        fields = _plan_fields(plan)
        if settling is not None:
            match[f"records.{settling}.status"] = StepStatus.PENDING.value
            fields[f"records.{settling}"] = record
        # The run first, then the next step's job, only if the run was still where it was read: cancelled
        # meanwhile, no job starts after the cancel. (A crash between the two leaves a run whose current
        # step has no job: the sweep plans it again, the same job.)
        if _coll().update_one(match, {"$set": fields}).matched_count:
            if plan.job is not None:
                self._write_job(plan.job)
        elif settling is not None and self._status(run["_id"]) == CANCELLED:  # cancelled after it was read
            self._record_after_cancel(run["_id"], settling, record)

    @staticmethod
    def _record_after_cancel(run_id: ObjectId, name: str, record: dict[str, Any]) -> None:
        """The record of step ``name`` whose attempt was under way when its run was cancelled: what it did
        (its output, its error) is shown, though nothing follows it."""
        _coll().update_one(
            {"_id": run_id, "status": CANCELLED, f"records.{name}.status": StepStatus.PENDING.value},
            {"$set": {f"records.{name}": record, "updated_at": utcnow()}},
        )

    # -- repair ------------------------------------------------------------------------------------------

    def sweep(self, min_age: float, now: float | None = None) -> int:
        """Move on runs left behind by a crash: a step whose job settled while the run did not hear of it
        (or was never written), or a settled step with no next job. A run whose step waits out its delay
        is not looked at before the step is due (``wake_at``: a workspace's thousands of runs waiting a day
        made every pass of every process read each of them and its job). Returns how many runs it looked
        at."""
        now = time.time() if now is None else now
        cutoff = utcnow() - dt.timedelta(seconds=min_age)
        seen = 0
        for run in _left_behind(cutoff, now):
            seen += 1
            index = int(run.get("current") or 0)
            if index >= len(run["steps"]):
                self._finish_walked(run)
                continue
            record = (run.get("records") or {}).get(run["steps"][index]["name"]) or {}
            if record.get("status") in STEP_DONE:
                self._move_on(run, index)
                continue
            job = PluginJob._get_collection().find_one({"_id": jobs.step_job_id(run["_id"], index)})
            if job is None:  # the run was written, its job not: plan the step again (same id and key)
                plan = self.plan(run, index)
                if plan.job is not None and plan.current == index:
                    if run.get("wake_at"):  # due when it was first planned to be (no delay waited twice)
                        plan.job["scheduled_for"] = min(plan.job["scheduled_for"], run["wake_at"])
                    self._write_job(plan.job)
                continue
            if job["status"] in (jobs.COMPLETED, jobs.FAILED, jobs.CANCELLED):
                last = PluginExecutionLog._get_collection().find_one(
                    {"job_id": str(job["_id"])}, sort=[("executed_at", -1)]
                )
                output = (last or {}).get("output_data") or {}
                self.settled(job, job["status"] == jobs.COMPLETED, output, job.get("last_error"), run=run)
                log.warning("workflow sweep: moved run %s on after step %d", run["_id"], index)
        return seen

    def _finish_walked(self, run: dict[str, Any]) -> None:
        plan = self.plan(run, len(run["steps"]))
        _coll().update_one(
            {"_id": run["_id"], "status": RUNNING},
            {
                "$set": {
                    "status": plan.status,
                    "error": plan.error,
                    "finished_at": utcnow(),
                    "updated_at": utcnow(),
                }
            },
        )

    # -- people ------------------------------------------------------------------------------------------

    def cancel(self, run_id: ObjectId) -> None:
        """Cancel a running run: its waiting step job is cancelled; a step running now finishes its
        attempt, and nothing follows it."""
        now = utcnow()
        moved = _coll().update_one(
            {"_id": run_id, "status": RUNNING},
            {
                "$set": {
                    "status": CANCELLED,
                    "error": "Cancelled by a user.",
                    "finished_at": now,
                    "updated_at": now,
                }
            },
        )
        if not moved.modified_count:
            raise RunStateError(f"Only a running run can be cancelled; this one is {self._status(run_id)}.")
        if jobs.cancel_waiting("The workflow run was cancelled.", run_id=str(run_id)):
            run = _coll().find_one({"_id": run_id}, {"steps": 1, "current": 1})
            if run is not None and int(run.get("current") or 0) < len(run["steps"]):
                name = run["steps"][int(run["current"] or 0)]["name"]
                _coll().update_one(
                    {"_id": run_id, f"records.{name}.status": StepStatus.PENDING.value},
                    {"$set": {f"records.{name}.status": StepStatus.CANCELLED.value, "updated_at": utcnow()}},
                )

    def retry(self, run_id: ObjectId) -> None:
        """Run a failed run again from the step that failed (its job is sent again, under its key)."""
        run = _coll().find_one({"_id": run_id})
        if run is None or run["status"] != FAILED or run.get("current", 0) >= len(run["steps"]):
            status = run["status"] if run is not None else "gone"
            raise RunStateError(f"Only a failed run can be retried; this one is {status}.")
        if not run.get("records"):  # refused by the runs limit: it never started (a retry would dodge it)
            raise RunStateError("This run never started (over the runs limit); replay it instead.")
        index = int(run["current"])
        step = run["steps"][index]
        job = PluginJob._get_collection().find_one({"_id": jobs.step_job_id(run_id, index)}, {"status": 1})
        now = utcnow()
        fields: dict[str, Any] = {"status": RUNNING, "error": None, "finished_at": None, "updated_at": now}
        if job is not None:
            record = {**(run.get("records") or {}).get(step["name"], {}), "status": StepStatus.PENDING.value}
            fields[f"records.{step['name']}"] = {**record, "error": None}
        moved = _coll().update_one({"_id": run_id, "status": FAILED, "current": index}, {"$set": fields})
        if not moved.modified_count:
            raise RunStateError("The run changed meanwhile; look at it again.")
        if job is not None:
            # (sent again already, through the jobs API: it waits or runs, and the run follows it)
            with contextlib.suppress(jobs.JobStateError):
                jobs.resend(job["_id"], extra_attempts=self._attempts(step))
            return
        run.update(fields)  # (as the update left it: no need to read it again)
        run["records"] = {k: v for k, v in (run.get("records") or {}).items() if k != step["name"]}
        plan = self.plan(run, index)
        if plan.job is not None:
            self._write_job(plan.job)
        _coll().update_one({"_id": run_id, "status": RUNNING}, {"$set": _plan_fields(plan)})

    def replay(self, run_id: ObjectId, workflow: dict[str, Any]) -> dict[str, Any]:
        """A new run with the same trigger data and the same pinned steps as ``run_id``."""
        run = _coll().find_one({"_id": run_id})
        if run is None:
            raise RunStateError("The run is gone.")
        trigger = run.get("trigger") or {}
        key = f"{run['trigger_key']}:replay:{uuid.uuid4().hex}"
        new, job = self.new_run(
            workflow,
            trigger.get("type", "manual"),
            trigger.get("data") or {},
            key,
            steps=run["steps"],
            version=run["version"],
            replay_of=str(run_id),
        )
        self.start(new, job)
        return new

    @staticmethod
    def _status(run_id: ObjectId) -> str:
        found = _coll().find_one({"_id": run_id}, {"status": 1})
        return found["status"] if found else "gone"


def _plan_fields(plan: Plan) -> dict[str, Any]:
    """The run's fields ``plan`` sets: its steps' records, where it is, and its end if it ended."""
    fields: dict[str, Any] = {f"records.{n}": r for n, r in plan.records.items()}
    fields.update(current=plan.current, updated_at=utcnow())
    if plan.job is not None:
        fields["wake_at"] = plan.job["scheduled_for"]  # (the sweep looks at the run once it is due)
    if plan.status is not None:
        fields.update(status=plan.status, error=plan.error, finished_at=utcnow())
    return fields


def runs(app: Flask) -> Runs:
    """The app's workflow runs (built on first use)."""
    shared = services(app)
    if shared.workflow_runs is None:
        shared.workflow_runs = Runs(app)
    return shared.workflow_runs



def _left_behind(cutoff: dt.datetime, now: float) -> Iterator[dict[str, Any]]:
    """The running runs not moved since ``cutoff`` and not waiting out a step's delay past ``now``: the
    running ones by equality, SWEEP_PAGE a read, the rest checked here. (With the age and wake-up time as
    conditions, nx-27017 dropped the status and answered every run held, 100,000 in 6.5-10.7 s a pass; a
    finished run whose step's job was removed would have been planned again.)"""
    running, skip = {"status": {"$eq": RUNNING}}, 0
    while page := list(_coll().find(running, skip=skip, limit=SWEEP_PAGE)):
        skip += len(page)
        for run in page:
            updated, wake_at = as_datetime(run.get("updated_at")), run.get("wake_at")
            moved = updated is None or updated >= cutoff
            if run.get("status") == RUNNING and not moved and (wake_at is None or wake_at <= now):
                yield run
