"""What the workflow lists accept, and what moving runs on and running a report step read from the store."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from bson import ObjectId
from pymongo.collection import Collection

from app.engine.queue import JobQueue
from app.engine.runner import run_one
from app.engine.workflow_runs import runs
from app.models import PluginJob, WorkflowRun
from tests.conftest import Api
from tests.support.commands import commands_sent
from tests.workflows.conftest import FIELDS, create_workflow

HOOK = [{"name": "hook", "plugin_id": "webhook", "config": {"url": "http://127.0.0.1:9/flow"}}]


@pytest.fixture
def flows(api: Api) -> dict[str, dict]:
    return {
        status: create_workflow(api, {"type": "manual"}, HOOK, status=status)
        for status in ("draft", "active", "paused")
    }


@pytest.mark.parametrize("status", ["draft", "active", "paused"])
def test_the_workflow_list_filters_by_a_known_status(api, flows, status):
    listed = api.get(f"/api/workflows?status={status}")
    assert listed.status_code == 200
    assert [wf["id"] for wf in listed.json["items"]] == [flows[status]["id"]]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/workflows", "bogus"),
        ("/api/workflows", "ACTIVE"),
        ("/api/workflows", ""),
        ("/api/workflows", "succeeded"),  # a run's status, not a workflow's
        ("/api/workflow-runs", "bogus"),
        ("/api/workflow-runs", "active"),  # a workflow's status, not a run's
        ("/api/workflows/{id}/runs", "RUNNING"),
    ],
)
def test_an_unknown_status_on_any_workflow_list_is_a_400_in_the_error_shape(api, flows, path, status):
    resp = api.get(f"{path.format(id=flows['active']['id'])}?status={status}")
    assert resp.status_code == 400, resp.json
    error = resp.json["error"]
    assert error["code"] == "bad_request" and error["message"].startswith("status must be one of")
    assert set(error) == {"code", "message", "details"}


def _counting(monkeypatch, collection: str) -> list[tuple]:
    """The ``find_one`` calls on ``collection`` from now on (their arguments)."""
    calls: list[tuple] = []
    real = Collection.find_one

    def find_one(coll, *args, **kwargs):
        if coll.name == collection:
            calls.append(args)
        return real(coll, *args, **kwargs)

    monkeypatch.setattr(Collection, "find_one", find_one)
    return calls


@pytest.mark.parametrize("runs_left", [1, 3])
def test_the_sweep_moves_runs_on_with_the_runs_it_read(make_app, sink, monkeypatch, runs_left):
    app = make_app()
    api = Api(app.test_client())
    steps = [
        {"name": "one", "plugin_id": "webhook", "config": {"url": f"{sink.url}/1"}},
        {"name": "two", "plugin_id": "webhook", "config": {"url": f"{sink.url}/2"}},
    ]
    wf = create_workflow(api, {"type": "manual"}, steps)
    ids = [api.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).json["id"] for _ in range(runs_left)]
    jobs = PluginJob._get_collection()
    jobs.update_many({"run_id": {"$in": ids}}, {"$set": {"status": "completed"}})  # the runs did not hear
    WorkflowRun._get_collection().update_many({}, {"$set": {"updated_at": dt.datetime(2026, 1, 1)}})
    reads = _counting(monkeypatch, "workflow_runs")

    assert runs(app).sweep(min_age=60) == runs_left

    assert reads == []  # (each run read once, by the sweep's own query)
    assert sorted(j["run_id"] for j in jobs.find({"step": 1})) == sorted(ids)


@pytest.mark.parametrize("url", ["{{ data.url }}", "{{ data.host }}/x"])
def test_a_retry_of_a_run_that_failed_before_its_job_reads_the_run_once(make_app, sink, monkeypatch, url):
    app = make_app()
    api = Api(app.test_client())
    wf = create_workflow(
        api, {"type": "manual"}, [{"name": "hook", "plugin_id": "webhook", "config": {"url": url}}]
    )
    run = api.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).json
    assert run["status"] == "failed"  # its URL rendered empty: no job was written
    reads = _counting(monkeypatch, "workflow_runs")

    with app.app_context():
        runs(app).retry(ObjectId(run["id"]))

    assert len(reads) == 1
    detail = api.get(f"/api/workflow-runs/{run['id']}").json
    assert detail["status"] == "failed" and "hook" in detail["error"]  # still not valid: failed again


def test_a_report_step_reads_its_jobs_workspace_once(api, make_app, monkeypatch):
    app = make_app()
    form = api.create_form("Leads", FIELDS)
    config = {"form_id": form["id"], "since": "2026-06-01T00:00:00Z", "until": "2026-06-02T00:00:00Z"}
    wf = create_workflow(
        api, {"type": "manual"}, [{"name": "report", "plugin_id": "submissions_csv", "config": config}]
    )
    Api(app.test_client()).post(f"/api/workflows/{wf['id']}/run", {"data": {}})
    [job] = JobQueue("me", lease_seconds=30).claim(10)
    reads = _counting(monkeypatch, "plugin_jobs")

    assert run_one(app, job)["status"] == "completed"

    assert [args for args in reads if args[1:] == ({"workspace_id": 1},)] == [
        ({"_id": job["_id"]}, {"workspace_id": 1})
    ]


def test_a_page_of_workflows_reads_their_steps_circuits_once(api):
    """(Each workflow of a page read its circuits: 100 reads for a page of 100.)"""
    for _ in range(12):
        create_workflow(api, {"type": "manual"}, HOOK)
    with commands_sent() as sent:
        listed = api.get("/api/workflows?per_page=10")
    assert listed.status_code == 200 and len(listed.json["items"]) == 10
    assert {wf["steps"][0]["circuit"]["state"] for wf in listed.json["items"]} == {"closed"}
    circuit_reads = [cmd for name, cmd in sent if name == "find" and cmd["find"] == "step_circuits"]
    assert len(circuit_reads) == 1


def test_the_sweep_reads_only_running_runs_left_behind_and_plans_no_finished_one_again(make_app, sink):
    """Found at scale: with the age and wake-up time as conditions of its read, the embedded store dropped
    the status and answered every run held (100,000 in 6.5-10.7 s, each pass); a finished run whose step's
    job had been removed was then planned again."""
    app = make_app()
    api = Api(app.test_client())
    steps = [{"name": "one", "plugin_id": "webhook", "config": {"url": f"{sink.url}/1"}}]
    wf = create_workflow(api, {"type": "manual"}, steps)
    left, done, waiting = (api.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).json["id"] for _ in range(3))
    coll, jobs = WorkflowRun._get_collection(), PluginJob._get_collection()
    coll.update_many({}, {"$set": {"updated_at": dt.datetime(2026, 1, 1)}})
    coll.update_one({"_id": ObjectId(done)}, {"$set": {"status": "succeeded"}})
    coll.update_one({"_id": ObjectId(waiting)}, {"$set": {"wake_at": time.time() + 3600}})
    jobs.delete_many({"run_id": {"$in": [done, waiting]}})  # (removed: retention, say)

    with commands_sent() as sent:
        assert runs(app).sweep(min_age=60) == 1

    reads = [cmd["filter"] for name, cmd in sent if name == "find" and cmd["find"] == "workflow_runs"]
    assert reads and all(f == {"status": {"$eq": "running"}} for f in reads)  # (the rest checked in Python)

    assert jobs.count_documents({"run_id": {"$in": [done, waiting]}}) == 0  # neither planned again
    assert jobs.count_documents({"run_id": left}) == 1


def test_the_lists_of_runs_read_along_an_index_newest_first(make_app, sink):
    """By plain equality each was a sort of every run of the workflow or workspace (0.24-0.41 s at 100,000)."""
    from tests.admin_ui.conftest import owner_client

    app = make_app()
    api = Api(app.test_client())
    steps = [{"name": "one", "plugin_id": "webhook", "config": {"url": f"{sink.url}/1"}}]
    wf = create_workflow(api, {"type": "manual"}, steps)
    ids = [api.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).json["id"] for _ in range(3)]
    with commands_sent() as sent:
        mine = api.get(f"/api/workflows/{wf['id']}/runs?per_page=2").json
        every = api.get("/api/workflow-runs?status=running&page=2&per_page=2").json
        assert owner_client(app).get(f"/admin/workflows/{wf['id']}").status_code == 200
    assert [r["id"] for r in mine["items"]] == ids[:0:-1] and mine["has_more"]
    assert [r["id"] for r in every["items"]] == ids[:1] and not every["has_more"]
    reads = [c for n, c in sent if n == "find" and c["find"] == "workflow_runs" and "sort" in c]
    assert len(reads) >= 3 and all(list(c["sort"]) == ["created_at"] for c in reads)
    assert all(set(c["filter"]) & {"workflow_id", "workspace_id"} for c in reads)
    assert all(all(isinstance(v, dict) and "$eq" in v or k == "workspace_id" for k, v in c["filter"].items()) for c in reads)
