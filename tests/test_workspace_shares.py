"""Workspace shares (issue 21, step 5): one workspace's slow destinations or misbehaving plugins hold at most
its share of a process's worker threads and plugin processes, so another workspace's job is delivered at
once; and a job waiting for a plugin process holds no worker thread."""

from __future__ import annotations

import threading
import time

import pytest

from app.engine.slots import Slots, share_of
from app.services import services
from tests.conftest import Api
from tests.support.bad_plugins import MISBEHAVING
from tests.support.sink import Reply
from tests.support.wait import wait_until

# Seconds the slow destination takes to answer: B must be served within half of it (a B that waited for A's
# calls would wait all of it). Nothing waits for A's calls to end, so a long one costs the test nothing and
# leaves B's delivery room on a loaded host (at 8 s, B once took over 4 s under two workers per core).
SLOW = 30.0  # (a destination this slow: B must never wait for one of its calls to end)


def workspace_form(api: Api, name: str) -> dict:
    workspace = api.post("/api/workspaces", {"name": name}).json["id"]
    resp = api.post("/api/forms", {"name": name, "fields": [], "workspace_id": workspace})
    assert resp.status_code == 201, resp.json
    return resp.json


def delivered_within(api: Api, sink, form: dict, path: str, seconds: float) -> float:
    """Submit to ``form``; the seconds until the sink got its delivery at ``path`` (fails past ``seconds``)."""
    started = time.monotonic()
    api.submit(form["id"], {"n": "b"})
    wait_until(
        lambda: any(r.path == path for r in sink.requests), timeout=seconds, what=f"the delivery to {path}"
    )
    return time.monotonic() - started


@pytest.mark.slow
@pytest.mark.parametrize("hooks", [12, 24])
def test_a_workspaces_slow_destinations_do_not_delay_anothers_first_delivery(make_app, sink, hooks):
    app = make_app(SCHEDULER_ENABLED=True, JOB_TIMEOUT=SLOW + 10, MAX_ATTEMPTS=1)
    api = Api(app.test_client())
    sink.responder = lambda req: Reply(delay=SLOW if req.path.startswith("/slow") else 0.0)
    a = workspace_form(api, "A")
    for i in range(hooks):  # fresh integrations, each under its own cap
        api.add_plugin(a["id"], "webhook", {"url": f"{sink.url}/slow/{i}"})
    b = workspace_form(api, "B")
    api.add_plugin(b["id"], "webhook", {"url": sink.url + "/fast"})

    api.submit(a["id"], {"n": "a"})
    wait_until(lambda: any(r.path.startswith("/slow") for r in sink.requests), what="A's first calls")
    assert delivered_within(api, sink, b, "/fast", seconds=SLOW / 2) < SLOW / 2
    # A's calls are still waiting for their answers: B did not wait for a thread of A's to be free
    assert sum(r.path.startswith("/slow") for r in sink.requests) <= share_of(8, app.config["WORKSPACE_SHARE"])


@pytest.mark.slow
@pytest.mark.parametrize("submissions", [1, 3])
def test_misbehaving_plugins_of_a_workspace_do_not_delay_anothers_delivery(make_app, sink, submissions):
    app = make_app(
        SCHEDULER_ENABLED=True,
        JOB_TIMEOUT=3,
        MAX_ATTEMPTS=1,
        WORKER_THREADS=4,
        PLUGIN_PROCESSES=2,
        PLUGIN_MEMORY_MB=256,
        CIRCUIT_FAILURE_THRESHOLD=1000,
    )
    for cls in MISBEHAVING:
        services(app).plugins.register(cls, f"package test-plugins ({cls.__name__})")
    api = Api(app.test_client())
    a = workspace_form(api, "A")
    for cls in MISBEHAVING:
        api.add_plugin(a["id"], cls.id, {})
    b = workspace_form(api, "B")
    api.add_plugin(b["id"], "webhook", {"url": sink.url + "/b"})

    a_jobs = [job for _ in range(submissions) for job in api.submit(a["id"], {"n": "a"})["jobs"]]
    wait_until(
        lambda: sum(api.job(j)["status"] == "running" for j in a_jobs) >= 2, what="A's jobs running"
    )
    assert delivered_within(api, sink, b, "/b", seconds=1.5) < 1.5
    finished = wait_until(
        lambda: all(api.job(j)["status"] == "failed" for j in a_jobs), timeout=60, what="A's jobs failing"
    )
    assert finished
    reasons = {api.job(j)["logs"][0]["error_message"] for j in a_jobs}
    assert not any("waited for a free plugin process" in reason for reason in reasons)


def _slots(threads: int, processes: int, needs_process=lambda job: False, share=0.5, integration_limit=0):
    """Slots whose jobs block until released; ``started`` lists the jobs in the order they started."""
    gates: dict[str, threading.Event] = {}
    started: list[str] = []

    def run(job, _):
        started.append(job["_id"])
        gates.setdefault(job["_id"], threading.Event()).wait(10)

    def job(workspace: str, config: str, n: int) -> dict:
        job_id = f"{workspace}{config}-{n}"
        gates[job_id] = threading.Event()
        return {"_id": job_id, "workspace_id": workspace, "config_id": workspace + config}

    return Slots(threads, processes, share, needs_process, run, integration_limit), job, gates, started


@pytest.mark.parametrize(("threads", "share"), [(2, 1), (4, 2), (8, 4)])
def test_a_workspace_holds_at_most_its_share_of_the_threads(threads, share):
    slots, job, gates, started = _slots(threads, 1)
    try:
        for i in range(threads * 2):  # A: many integrations, each with one blocked job
            slots.submit(job("A", str(i), 0), None)
        wait_until(lambda: len(started) == share, what="A's share started")
        slots.submit(job("B", "x", 0), None)
        wait_until(lambda: "Bx-0" in started, timeout=2, what="B's job started beside A's")
        assert sum(j.startswith("A") for j in started) == share
        for gate in gates.values():
            gate.set()
        wait_until(lambda: len(started) == threads * 2 + 1, what="every job run")
    finally:
        slots.shutdown()


def test_an_integration_holds_at_most_its_share_of_its_workspaces_threads():
    slots, job, gates, started = _slots(8, 1)  # a workspace: 4 threads; an integration: 2 of those
    try:
        for n in range(6):
            slots.submit(job("A", "slow", n), None)
        wait_until(lambda: len(started) == 2, what="the slow integration's share")
        slots.submit(job("A", "other", 0), None)
        wait_until(lambda: "Aother-0" in started, timeout=2, what="another integration of A started")
        assert len(started) == 3
        for gate in gates.values():
            gate.set()
    finally:
        slots.shutdown()


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_an_integration_runs_at_most_integration_concurrency_jobs_at_once(limit):
    """The scheduler claims up to twice INTEGRATION_CONCURRENCY jobs of one integration (fewer claims of a
    backlog); the threads run at most INTEGRATION_CONCURRENCY of them at once, the rest wait queued."""
    slots, job, gates, started = _slots(8, 1, share=1.0, integration_limit=limit)
    try:
        for n in range(2 * limit):
            slots.submit(job("A", "busy", n), None)
        wait_until(lambda: len(started) == limit, what="the integration's limit started")
        slots.submit(job("A", "other", 0), None)
        wait_until(lambda: "Aother-0" in started, timeout=2, what="another integration started")
        assert sum(j.startswith("Abusy") for j in started) == limit
        gates[started[0]].set()  # one ends: exactly one more of the integration starts
        wait_until(lambda: sum(j.startswith("Abusy") for j in started) == limit + 1, what="the next one")
        assert sum(j.startswith("Abusy") for j in started) == limit + 1
        for gate in gates.values():
            gate.set()
    finally:
        slots.shutdown()


@pytest.mark.parametrize("processes", [1, 2, 4])
def test_a_job_waiting_for_a_plugin_process_holds_no_thread(processes):
    slots, job, gates, started = _slots(8, processes, needs_process=lambda j: j["config_id"].endswith("p"))
    try:
        for workspace in ("A", "C"):
            for n in range(8):
                slots.submit(job(workspace, "p", n), None)
        share = share_of(processes, 0.5)
        wait_until(lambda: len(started) == min(processes, 2 * share), what="plugin jobs in every process")
        slots.submit(job("B", "webhook", 0), None)  # runs in a thread: one is free although 16 jobs wait
        wait_until(lambda: "Bwebhook-0" in started, timeout=2, what="B's thread job")
        assert sum("p-" in j for j in started) == min(processes, 2 * share)  # no more waited in a thread
        assert slots.cancel("Ap-7") and not slots.cancel("Bwebhook-0")
        for gate in gates.values():
            gate.set()
    finally:
        slots.shutdown()


@pytest.mark.parametrize("threads", [2, 4, 8])
def test_a_finished_job_wakes_no_idle_thread_when_nothing_is_queued(threads, monkeypatch):
    """Every finished job woke every idle worker thread (8 threads per submission in the trace), though
    with nothing queued none of them had anything to start."""
    looked: list[str] = []  # threads that looked for a job
    real_next = Slots._next

    def counted(self):
        looked.append(threading.current_thread().name)
        return real_next(self)

    monkeypatch.setattr(Slots, "_next", counted)
    slots, job, gates, started = _slots(threads, 1)
    woken: list[int] = []
    real_notify_all = slots._cond.notify_all
    slots._cond.notify_all = lambda: (woken.append(1), real_notify_all())  # type: ignore[method-assign]
    try:
        wait_until(lambda: len(looked) >= threads, what="every thread waiting")
        for n in range(3):
            slots.submit(job("A", "x", n), None)
            wait_until(lambda n=n: len(started) == n + 1, what="the job started")
            before = len(looked)
            gates[f"Ax-{n}"].set()
            # the thread that ran it is back in line once it looks for the next job
            wait_until(lambda before=before: len(looked) > before, what="the runner back in line")
        assert woken == []
        slots.submit(job("A", "x", 3), None)  # a queued job still starts
        wait_until(lambda: len(started) == 4, what="the fourth job started")
        gates["Ax-3"].set()
    finally:
        slots.shutdown()
