"""Process isolation: a third-party plugin that eats memory, spins or segfaults fails its own job with the
reason, in a worker process that is replaced, while another form's webhook keeps delivering. A plugin in a
worker process sees its own config and the narrow settings view, never the host's Flask config."""

from __future__ import annotations

import os
import time

import pytest

from app.services import services
from tests.conftest import Api
from tests.support.bad_plugins import BAD
from tests.support.wait import wait_until
from tests.test_metrics import _samples as samples

pytestmark = pytest.mark.slow


@pytest.fixture
def process_app(make_app):
    """A scheduling app with the misbehaving plugins installed as a package would install them."""
    app = make_app(
        SCHEDULER_ENABLED=True,
        JOB_TIMEOUT=3,
        PLUGIN_MEMORY_MB=256,
        PLUGIN_PROCESSES=3,
        MAX_ATTEMPTS=1,
        SECRET_KEY="flask-secret-never-for-plugins",
    )
    for cls in BAD:
        services(app).plugins.register(cls, f"package test-plugins ({cls.__name__})")
    return app


def finished(api: Api, job_id: str) -> dict | None:
    job = api.job(job_id)
    return job if job["status"] in ("completed", "failed") else None


@pytest.mark.parametrize(
    ("plugin_id", "reason"),
    [
        ("hog", "Plugin process exceeded 256 MB."),
        ("spin", "Timed out: the plugin did not finish within 3 s; its process was killed."),
        ("segfault", "Plugin process killed by signal 11."),
    ],
)
def test_a_misbehaving_plugin_fails_its_job_with_the_reason_while_others_deliver(
    process_app, sink, plugin_id, reason
):
    api = Api(process_app.test_client())
    bad_form = api.create_form("Workspace A's form")
    api.add_plugin(bad_form["id"], plugin_id, {})
    good_form = api.create_form("Workspace B's form")
    api.add_plugin(good_form["id"], "webhook", {"url": sink.url})

    bad_job = api.submit(bad_form["id"], {"n": 1})["jobs"][0]
    for i in range(5):  # delivered while the bad plugin runs
        api.submit(good_form["id"], {"n": i})
    sink.wait_for(5, timeout=10)
    if plugin_id == "spin":  # delivered while the bad plugin still spins
        assert api.job(bad_job)["status"] == "running"

    job = wait_until(lambda: finished(api, bad_job), timeout=15, what="the bad job to finish")
    assert job["status"] == "failed"
    [attempt] = job["logs"]
    assert attempt["error_message"] == reason
    assert attempt["isolation"] == "process"
    isolation = api.client.get("/readyz").json["isolation"]
    assert isolation["mode"] == "third-party"
    assert sum(isolation["worker_restarts"].values()) == 1
    assert services(process_app).scheduler.deadlines.abandoned == 0  # no abandoned thread

    # the replaced worker serves the next job
    good = api.submit(good_form["id"], {"n": "after"})["jobs"][0]
    assert wait_until(lambda: finished(api, good), what="a job after the crash")["status"] == "completed"


def test_a_plugin_over_its_cpu_time_is_killed_before_the_deadline(make_app):
    # A deadline far above the CPU limit: on a loaded machine 1 s of CPU can take many seconds of wall time.
    app = make_app(SCHEDULER_ENABLED=True, JOB_TIMEOUT=90, PLUGIN_CPU_SECONDS=1, MAX_ATTEMPTS=1)
    services(app).plugins.register(BAD[1], "package test-plugins (SpinPlugin)")
    api = Api(app.test_client())
    form = api.create_form()
    api.add_plugin(form["id"], "spin", {})
    job_id = api.submit(form["id"], {"n": 1})["jobs"][0]
    job = wait_until(lambda: finished(api, job_id), timeout=90, what="the spinning job to be stopped")
    assert job["logs"][0]["error_message"] == "Plugin process exceeded its CPU time limit (1 s)."
    assert job["logs"][0]["duration_ms"] < 90_000  # stopped by the CPU limit, not the deadline


def test_workers_are_reused_and_report_peak_memory(process_app):
    api = Api(process_app.test_client())
    form = api.create_form()
    api.add_plugin(form["id"], "snoop", {"note": "mine"})
    jobs = [api.submit(form["id"], {"n": i})["jobs"][0] for i in range(6)]
    done = [wait_until(lambda j=j: finished(api, j), what="snoop jobs") for j in jobs]
    pids = {d["logs"][0]["response"]["seen"]["pid"] for d in done}
    assert len(pids) <= 3
    for d in done:
        assert d["status"] == "completed"
        assert d["logs"][0]["isolation"] == "process"
        assert 5 < d["logs"][0]["peak_memory_mb"] < 256


def test_a_plugin_in_a_process_sees_only_its_own_config_and_the_narrow_settings(process_app, caplog):
    api = Api(process_app.test_client())
    form = api.create_form()
    api.add_plugin(form["id"], "snoop", {"note": "mine", "token": "tok-SECRET-of-this-config"})
    other = api.create_form("Another form")
    api.add_plugin(other["id"], "snoop", {"note": "theirs", "token": "tok-SECRET-of-the-other"})
    job = api.submit(form["id"], {"n": 1})["jobs"][0]
    done = wait_until(lambda: finished(api, job), what="the snoop job")

    seen = done["logs"][0]["response"]["seen"]
    assert seen["settings"] == {"ALLOW_PRIVATE_DESTINATIONS": True}
    assert seen["ctx_settings"] == seen["settings"]
    assert seen["config"]["note"] == "mine"
    assert seen["config"]["token"] == "[secret]"  # scrubbed on the way into the log
    assert seen["flask_config"] is None
    assert seen["environ_secret"] is None
    assert "tok-SECRET-of-the-other" not in str(done)
    # its log line came back over the pool's channel, scrubbed
    wait_until(lambda: any("snooping with token" in r.getMessage() for r in caplog.records), what="log line")
    assert not any("tok-SECRET" in r.getMessage() for r in caplog.records)


def test_test_connection_runs_in_a_worker_process_too(process_app):
    api = Api(process_app.test_client())
    crashes = ("formhooks_plugin_worker_restarts_total", (("reason", "crash"),))
    before = samples(api.client).get(crashes, 0)
    resp = api.post("/api/plugins/segfault/test", {"config": {}})
    assert resp.status_code == 200
    assert resp.json["success"] is False
    assert "killed by signal 11" in resp.json["message"]
    assert samples(api.client)[crashes] == before + 1
    assert api.client.get("/readyz").json["isolation"]["worker_restarts"] == {"crash": 1}


def test_shutdown_kills_the_worker_processes(process_app):
    api = Api(process_app.test_client())
    assert api.post("/api/plugins/snoop/test", {"config": {}}).json["success"]
    host = services(process_app).plugin_host
    pids = host.pool.processes
    assert pids
    started = time.monotonic()
    host.shutdown(kill=True)
    assert time.monotonic() - started < 5
    assert host.pool.processes == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
