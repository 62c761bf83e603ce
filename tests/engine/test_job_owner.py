"""Job state has one owner (app/engine/jobs.py): no other module of the app writes a job's status, and each
transition, driven through the functions the engine and the API call, moves exactly the jobs its table
allows and refuses the others."""

from __future__ import annotations

import ast
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo import InsertOne, MongoClient
from pymongo.collection import Collection

from app.engine import jobs
from app.engine.queue import JobQueue
from app.engine.writer import ResultWriter
from app.models import JobStatus, PluginJob, utcnow
from app.store.traits import store_traits
from tests.engine.test_queue import _job
from tests.support.sink import Reply
from tests.support.wait import wait_until

APP = Path(__file__).resolve().parents[2] / "app"
OWNER = APP / "engine" / "jobs.py"
STATUSES = [s.value for s in JobStatus]
STATUS_NAMES = {"PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "FINISHED"}
WRITE_CALLS = {"update", "update_one", "update_many", "modify", "PluginJob", "dict"}  # status= sets it there
READS = {"find", "find_one", "count_documents", "distinct", "aggregate", "delete_one", "delete_many"}
FILTERS = READS | {"update_one", "update_many", "UpdateOne", "UpdateMany", "find_one_and_update"}


class StatusWrites(ast.NodeVisitor):
    """Places in one module that set a job's status: a ``status`` key, keyword or attribute given a job
    status (``JobStatus.X``, a name bound to one, or a literal in a ``$set``), outside query filters."""

    def __init__(self, tree: ast.Module, enum: str = "JobStatus", statuses: list[str] = STATUSES):
        self.enum, self.statuses = enum, statuses
        self.names = _status_names(tree, enum)
        self.found: list[int] = []
        self._filters: set[int] = set()  # ids of dicts that are query filters (read positions)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args and _called(node) in FILTERS:
                self._filters.update(id(n) for n in ast.walk(node.args[0]) if isinstance(n, ast.Dict))
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if _is(key, "$match") and value is not None:
                        self._filters.update(id(n) for n in ast.walk(value) if isinstance(n, ast.Dict))
        # a dict bound to a name that is only spread into filters (``due = {...}; find({**due, ...})``)
        spread = {
            value.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Dict) and id(node) in self._filters
            for key, value in zip(node.keys, node.values, strict=True)
            if key is None and isinstance(value, ast.Name)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Dict)
                and all(isinstance(t, ast.Name) and t.id in spread for t in node.targets)
            ):
                self._filters.add(id(node.value))

    def is_status(self, node: ast.AST | None, in_set: bool = False) -> bool:
        if isinstance(node, ast.Attribute) and node.attr == "value":
            node = node.value
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            return node.value.id == self.enum
        if isinstance(node, ast.Name):
            return node.id in self.names
        return in_set and isinstance(node, ast.Constant) and node.value in self.statuses

    def visit_Dict(self, node: ast.Dict) -> None:
        if id(node) not in self._filters:
            for key, value in zip(node.keys, node.values, strict=True):
                if _is(key, "status") and self.is_status(value):
                    self.found.append(node.lineno)
                if _is(key, "$set") and isinstance(value, ast.Dict):
                    pairs = zip(value.keys, value.values, strict=True)
                    if any(_is(k, "status") and self.is_status(v, in_set=True) for k, v in pairs):
                        self.found.append(value.lineno)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        # elsewhere (a read helper's ``status=`` parameter) a keyword names the jobs to read
        for kw in node.keywords if _called(node) in WRITE_CALLS else ():
            if kw.arg in ("status", "set__status") and self.is_status(kw.value, in_set=True):
                self.found.append(node.lineno)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Attribute) and target.attr == "status" and self.is_status(node.value):
                self.found.append(node.lineno)
            if (
                isinstance(target, ast.Subscript)
                and _is(target.slice, "status")
                and self.is_status(node.value)
            ):
                self.found.append(node.lineno)
        self.generic_visit(node)


def _is(node: ast.AST | None, text: str) -> bool:
    return isinstance(node, ast.Constant) and node.value == text


def _called(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _status_names(tree: ast.Module, enum: str = "JobStatus") -> set[str]:
    """Names a module binds to job statuses: imported from the engine, or assigned from ``JobStatus``."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("app.engine"):
            names.update(a.asname or a.name for a in node.names if a.name in STATUS_NAMES)
        if isinstance(node, ast.Assign):
            targets = [
                t
                for target in node.targets
                for t in (target.elts if isinstance(target, ast.Tuple) else [target])
            ]
            values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
            for target, value in zip(targets, values, strict=False):
                if isinstance(target, ast.Name) and enum in ast.unparse(value):
                    names.add(target.id)
    return names


def status_writes(source: str, enum: str = "JobStatus", statuses: list[str] = STATUSES) -> list[int]:
    """The lines of ``source`` that set a job's status (or, with ``enum`` and ``statuses``, another one's)."""
    tree = ast.parse(source)
    visitor = StatusWrites(tree, enum, statuses)
    visitor.visit(tree)
    return sorted(set(visitor.found))


def test_no_module_but_the_owner_writes_a_job_status():
    writers = {
        str(path.relative_to(APP.parent)): lines
        for path in sorted(APP.rglob("*.py"))
        if path != OWNER and (lines := status_writes(path.read_text()))
    }
    assert writers == {}
    assert status_writes(OWNER.read_text())  # the check sees the owner's writes


@pytest.mark.parametrize(
    "source",
    [
        'coll.update_one({"_id": i}, {"$set": {"status": JobStatus.FAILED.value}})',
        'coll.update_many({"status": PENDING}, {"$set": {"status": "cancelled"}})',
        "PENDING, RUNNING = JobStatus.PENDING.value, JobStatus.RUNNING.value\ndoc = {'status': RUNNING}",
        "from app.engine.jobs import RUNNING\ndoc.update(claim, status=RUNNING)",
        "job.status = JobStatus.COMPLETED",
        'job["status"] = JobStatus.PENDING.value',
        'PluginJob.objects(id=i).update_one(set__status="failed")',
        'UpdateOne({"_id": i}, {"$set": {"status": JobStatus.FAILED}})',
        'new = {"status": JobStatus.PENDING.value}\ncoll.insert_one({**new, "_id": i})',
    ],
)
def test_the_check_finds_a_status_written_in_each_way(source):
    assert status_writes(source)


@pytest.mark.parametrize(
    "source",
    [
        'coll.find({"status": JobStatus.PENDING.value})',
        'coll.update_many({"status": RUNNING, "lease_owner": me}, {"$set": {"lease_expires_at": t}})',
        'coll.aggregate([{"$match": {"status": JobStatus.PENDING.value}}])',
        'ops.update_one(held, {"$set": {"status": OperationStatus.FAILED.value}})',
        'deliveries.append({"channel": "email", "status": "failed"})',
        'due = {"status": PENDING}\ncoll.find({**due, "config_id": c})',
        "stats.recent_jobs(ids, since, status=JobStatus.FAILED.value)",
        'PENDING = JobStatus.PENDING.value\ndef waiting():\n    return {"status": {"$eq": PENDING}, "config_id": c}',
    ],
)
def test_the_check_leaves_reads_and_other_statuses_alone(source):
    assert status_writes(source) == []


# -- every transition, through the owner's code ---------------------------------------------------------


@pytest.fixture
def queue(app) -> JobQueue:
    return JobQueue("me", lease_seconds=30)


def _stored(job_id: ObjectId) -> dict[str, Any]:
    return PluginJob._get_collection().find_one({"_id": job_id})


def _store_is_atomic() -> bool:
    return store_traits(PluginJob._get_collection().database.client).atomic_bulk_write


def _write(change: jobs.Change) -> bool:
    """Apply a change through the result writer, as a worker's attempt does; True when it took effect."""
    writer = ResultWriter(_store_is_atomic, busy_delay=0.01)
    before = _stored(change.filter["_id"])
    writer.submit(None, change)
    assert writer.flush()
    writer.close()
    return _stored(change.filter["_id"]) != before


def _in(status: str, **fields: Any) -> dict[str, Any]:
    """A job in ``status``, as a claim by "me" would have left a running one."""
    doc = _job(status=status, attempts=1, max_attempts=3, **fields)
    if status == "running":
        doc.update(lease_owner="me", claim_token="t", lease_expires_at=time.time() + 30, started_at=utcnow())
    PluginJob._get_collection().insert_one(doc)
    return doc


def _claim(queue: JobQueue, job: dict) -> bool:
    return any(j["_id"] == job["_id"] for j in queue.claim(10))


def _reap(queue: JobQueue, job: dict, *, last: bool) -> bool:
    PluginJob._get_collection().update_one(
        {"_id": job["_id"]}, {"$set": {"lease_expires_at": time.time() - 1, "attempts": 3 if last else 1}}
    )
    return queue.reap_expired() != (0, 0)


def _resend(job: dict) -> bool:
    try:
        jobs.resend(job["_id"], 2)
    except jobs.JobStateError:
        return False
    return True


def _cancel(job: dict) -> bool:
    try:
        jobs.cancel(job["_id"])
    except jobs.JobStateError:
        return False
    return True


def _replay(job: dict) -> bool:
    read = PluginJob._get_collection().find_one({"_id": job["_id"]})
    return jobs.requeue(read, "replay", tuple(STATUSES), 2, operation_id="op1")


# transition -> how the app makes it happen to ``job`` (True: it took effect)
DRIVE: dict[str, Callable[[JobQueue, dict], bool]] = {
    "claim": _claim,
    "complete": lambda q, job: _write(jobs.finish(job, JobStatus.COMPLETED)),
    "fail": lambda q, job: _write(jobs.finish(job, JobStatus.FAILED, "HTTP 400")),
    "drop": lambda q, job: q.cancel(job, "The integration is disabled."),
    "retry": lambda q, job: _write(jobs.retry(job, time.time(), "HTTP 503")),
    "release": lambda q, job: q.release(job),
    "defer": lambda q, job: q.defer(job, 5),
    "reap": lambda q, job: _reap(q, job, last=False),
    "expire": lambda q, job: _reap(q, job, last=True),
    "cancel": lambda q, job: _cancel(job),
    "resend": lambda q, job: _resend(job),
    "replay": lambda q, job: _replay(job),
}


def test_every_transition_is_driven_here():
    assert set(DRIVE) | {"create", "claim_at_insert"} == set(jobs.TRANSITIONS)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("transition", sorted(DRIVE))
def test_each_transition_moves_only_the_jobs_its_table_allows(queue, transition, status):
    job = _in(status, claim_token="t" if status == "running" else None)
    took = DRIVE[transition](queue, job)

    expected = jobs.TRANSITIONS[transition].target if jobs.allowed(transition, status) else status
    assert (took, _stored(job["_id"])["status"]) == (jobs.allowed(transition, status), expected)


@pytest.mark.parametrize("transition", ["complete", "fail", "retry", "drop", "release", "defer"])
def test_a_change_of_a_running_job_needs_the_claim_that_holds_it(queue, transition):
    job = _in("running")
    stolen = {**job, "claim_token": uuid.uuid4().hex}  # a worker whose lease was reaped and re-claimed
    assert not DRIVE[transition](queue, stolen)
    assert _stored(job["_id"])["status"] == "running"


def test_a_new_job_is_created_pending_and_only_a_new_pending_one_is_claimed_at_insert():
    doc = jobs.new_job(
        {"_id": ObjectId(), "plugin_id": "webhook"}, {"_id": ObjectId()}, None, "e", {}, "k", 3
    )
    assert (doc["status"], doc["attempts"]) == ("pending", 0)
    jobs.claim_at_insert(doc, jobs.claimed("me", 30, "t", time.time(), utcnow()))
    assert (doc["status"], doc["attempts"], doc["lease_owner"]) == ("running", 1, "me")
    with pytest.raises(jobs.JobStateError):
        jobs.claim_at_insert(doc, jobs.claimed("other", 30, "t2", time.time(), utcnow()))
    assert doc["lease_owner"] == "me"
    for status in ("completed", "failed", "cancelled"):
        with pytest.raises(jobs.JobStateError):
            jobs.claim_at_insert({**doc, "status": status}, {})


def test_a_running_job_cannot_finish_as_pending():
    with pytest.raises(jobs.JobStateError):
        jobs.finish(_job(status="running", claim_token="t"), JobStatus.PENDING)


def test_at_run_time_every_status_change_of_a_delivery_is_written_by_the_owner(live_api, sink, monkeypatch):
    """Deliveries that retry, complete, fail and are sent again: each store write that changes a job's
    status is issued from app/engine/jobs.py (new jobs are written with their submission, by dispatch)."""
    writers: list[str] = []

    def traced(name: str) -> None:
        real = getattr(Collection, name)

        def write(self, *args, **kwargs):
            if self.name == "plugin_jobs" and "status" in repr(
                args[1:2] if name != "bulk_write" else args[0]
            ):
                frames = [f.filename for f in traceback.extract_stack()[:-1] if f"{APP}/" in f.filename]
                writers.append(str(Path(frames[-1]).relative_to(APP.parent)))
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Collection, name, write)

    for name in ("update_one", "update_many", "bulk_write", "find_one_and_update", "replace_one"):
        traced(name)
    client_write = MongoClient.bulk_write

    def client_bulk(self, models, *args, **kwargs):  # (the result writer's one command on the embedded store)
        changes = [m for m in models if not isinstance(m, InsertOne)]  # (new jobs: written with their submission)
        if any(str(getattr(m, "_namespace", "")).endswith(".plugin_jobs") and "status" in repr(m) for m in changes):
            frames = [f.filename for f in traceback.extract_stack()[:-1] if f"{APP}/" in f.filename]
            writers.append(str(Path(frames[-1]).relative_to(APP.parent)))
        return client_write(self, models, *args, **kwargs)

    monkeypatch.setattr(MongoClient, "bulk_write", client_bulk)
    replies = iter([Reply(503), Reply(200), Reply(400), Reply(200)])
    sink.responder = lambda req: next(replies)
    form = live_api.create_form()
    live_api.add_plugin(form["id"], "webhook", {"url": sink.url})
    first = live_api.submit(form["id"], {"n": 1})["jobs"][0]
    wait_until(lambda: live_api.job(first)["status"] == "completed", what="a retried delivery")
    second = live_api.submit(form["id"], {"n": 2})["jobs"][0]
    wait_until(lambda: live_api.job(second)["status"] == "failed", what="a refused delivery")
    assert live_api.post(f"/api/jobs/{second}/retry").status_code == 200
    wait_until(lambda: live_api.job(second)["status"] == "completed", what="the resent delivery")

    assert len(writers) >= 6 and set(writers) == {"app/engine/jobs.py"}
