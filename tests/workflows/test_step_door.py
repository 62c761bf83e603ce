"""A workflow step goes through the integrations' door: its own circuit and its own share of the
per-integration concurrency cap, keyed by the step (its workflow and name)."""

from __future__ import annotations

import time

import pytest

from app.engine.queue import JobQueue
from app.engine.runner import run_one
from app.engine.workflow_runs import runs
from app.models import PluginExecutionLog, PluginJob
from tests.conftest import Api, ui_login
from tests.support.wait import wait_until
from tests.workflows.conftest import create_workflow

REFUSED = "http://127.0.0.1:9/down"  # nothing listens: every call fails


def _hook(name: str, url: str) -> dict:
    return {"name": name, "plugin_id": "webhook", "config": {"url": url}}


def _start(api: Api, workflow_id: str, times: int = 1) -> list[str]:
    return [api.post(f"/api/workflows/{workflow_id}/run", {"data": {}}).json["id"] for _ in range(times)]


def _attempts_of(run_ids: list[str]) -> int:
    job_ids = [str(j["_id"]) for j in PluginJob._get_collection().find({"run_id": {"$in": run_ids}})]
    return PluginExecutionLog._get_collection().count_documents({"job_id": {"$in": job_ids}})


@pytest.mark.parametrize("threshold", [1, 3])
def test_a_steps_failing_destination_opens_its_circuit_and_holds_its_later_jobs(make_app, sink, threshold):
    app = make_app(CIRCUIT_FAILURE_THRESHOLD=threshold, CIRCUIT_COOLDOWN=600)
    api = Api(app.test_client())
    down = create_workflow(api, {"type": "manual"}, [_hook("post", REFUSED)])
    fine = create_workflow(api, {"type": "manual"}, [_hook("post", f"{sink.url}/up")])
    failing = _start(api, down["id"], threshold + 2)
    healthy = _start(api, fine["id"])
    queue = JobQueue("me", lease_seconds=30)
    claimed = queue.claim(20)
    assert len(claimed) == threshold + 3

    before = time.time()
    stored = [run_one(app, job) for job in claimed]

    assert _attempts_of(failing) == threshold  # the circuit opened: the others were not sent
    held = [job for job in stored if job["run_id"] in failing][threshold:]
    assert [(j["status"], j["attempts"]) for j in held] == [("pending", 0)] * 2  # no attempt spent
    assert all(j["scheduled_for"] >= before + 590 for j in held)  # they wait out the cool-down
    assert _attempts_of(healthy) == 1 and len(sink.requests) == 1  # another step's circuit is its own


def test_the_same_step_of_two_workflows_has_two_circuits(make_app, sink):
    app = make_app(CIRCUIT_FAILURE_THRESHOLD=1, CIRCUIT_COOLDOWN=600)
    api = Api(app.test_client())
    first = create_workflow(api, {"type": "manual"}, [_hook("post", REFUSED)])
    second = create_workflow(api, {"type": "manual"}, [_hook("post", f"{sink.url}/up")])
    ids = _start(api, first["id"]) + _start(api, second["id"])
    for job in JobQueue("me", lease_seconds=30).claim(10):
        run_one(app, job)
    assert (_attempts_of(ids[:1]), _attempts_of(ids[1:]), len(sink.requests)) == (1, 1, 1)


def _at_second_step(app, api: Api, workflow_id: str) -> str:
    """A run whose first step is done and whose second step's job waits."""
    [run_id] = _start(api, workflow_id)
    first = PluginJob._get_collection().find_one({"run_id": run_id, "step": 0})
    PluginJob._get_collection().update_one({"_id": first["_id"]}, {"$set": {"status": "completed"}})
    runs(app).settled(first, True, {}, None, 0.01)
    return run_id


@pytest.mark.parametrize("cap", [1, 2])
def test_each_step_of_a_workflow_has_its_own_share_of_the_integration_cap(make_app, sink, cap):
    app = make_app()
    api = Api(app.test_client())
    wf = create_workflow(
        api, {"type": "manual"}, [_hook("one", f"{sink.url}/1"), _hook("two", f"{sink.url}/2")]
    )
    at_first = _start(api, wf["id"], cap + 1)
    at_second = [_at_second_step(app, api, wf["id"]) for _ in range(cap + 1)]

    claimed = JobQueue("me", lease_seconds=30, integration_cap=cap).claim(20)

    by_step = sorted(job["step"] for job in claimed)
    assert by_step == [0] * cap + [1] * cap  # each step up to the cap, not the workflow as a whole
    assert {job["run_id"] for job in claimed} <= set(at_first + at_second)
    assert {job["config_id"] for job in claimed} == {f"{wf['id']}:one", f"{wf['id']}:two"}


def _failed_or_held(run_id: str) -> bool:
    """The run's step job was attempted and failed, or was held back by its circuit (no attempt spent)."""
    job = PluginJob._get_collection().find_one({"run_id": run_id})
    held = job["status"] == "pending" and job["attempts"] == 0 and job["scheduled_for"] > time.time() + 500
    return job["status"] == "failed" or held


def test_steps_run_by_the_scheduler_obey_their_circuit_too(make_app):
    """Jobs handed to this process's threads as they are written, or claimed by its scheduler: the copy of
    a step's circuit the process keeps is refreshed when one of its own jobs changes it."""
    app = make_app(SCHEDULER_ENABLED=True, CIRCUIT_FAILURE_THRESHOLD=2, CIRCUIT_COOLDOWN=600, MAX_ATTEMPTS=1)
    api = Api(app.test_client())
    down = create_workflow(api, {"type": "manual"}, [_hook("post", REFUSED)])
    failing: list[str] = []
    for _ in range(5):
        [run_id] = _start(api, down["id"])
        failing.append(run_id)
        wait_until(lambda run_id=run_id: _failed_or_held(run_id), what="the step's attempt, or its deferral")
    assert _attempts_of(failing) == 2
    held = PluginJob.objects(run_id__in=failing, status="pending")
    assert held.count() == 3 and all(job.scheduled_for > time.time() + 500 for job in held)


def test_an_open_step_circuit_is_shown_to_its_owner_and_a_workflow_read_can_be_saved_back(make_app, sink):
    app = make_app(CIRCUIT_FAILURE_THRESHOLD=2, CIRCUIT_COOLDOWN=600)
    client = app.test_client()
    api = Api(client)
    steps = [_hook("post", REFUSED), _hook("after", f"{sink.url}/up")]
    down = create_workflow(api, {"type": "manual"}, steps)
    fine = create_workflow(api, {"type": "manual"}, [_hook("post", f"{sink.url}/up")])
    _start(api, down["id"], 3)
    for job in JobQueue("me", lease_seconds=30).claim(10):
        run_one(app, job)

    shown = api.get(f"/api/workflows/{down['id']}").json
    circuits = {step["name"]: step["circuit"] for step in shown["steps"]}
    assert (circuits["post"]["state"], circuits["post"]["consecutive_failures"]) == ("open", 2)
    assert circuits["post"]["next_trial_at"] >= time.time() + 500
    assert circuits["after"]["state"] == "closed"  # a step that never failed
    assert api.get(f"/api/workflows/{fine['id']}").json["steps"][0]["circuit"]["state"] == "closed"
    listed = {w["id"]: w for w in api.get("/api/workflows").json["items"]}
    assert listed[down["id"]]["steps"][0]["circuit"]["state"] == "open"

    page = ui_login(app).get(f"/admin/workflows/{down['id']}").get_data(as_text=True)
    assert "Step 1: Deliveries paused after 2 failures in a row; next try at" in page
    assert "Step 2: Deliveries paused" not in page

    # What GET answered, sent back as it was, is a valid change (the circuit is shown, never taken).
    saved = api.patch(f"/api/workflows/{down['id']}", {"steps": shown["steps"]})
    assert saved.status_code == 200, saved.json
    assert api.get(f"/api/workflows/{down['id']}").json["steps"][0]["circuit"]["state"] == "open"
