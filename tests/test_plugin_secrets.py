"""A third-party plugin cannot reach the host's secrets through any of its four calls (execute, Test
connection, preview, on_save): its worker process has a clean environment, runs as ``nobody`` when the host
is root and nobody can run its Python, and its settings view never holds the host's secrets. What it prints
goes, bounded, to its attempt, not into the host's log. (issue 20 §3, issue 21 step 1)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from app.engine import sandbox
from app.engine.workers import OUTPUT_LIMIT
from app.services import services
from tests.conftest import ADMIN_TOKEN, Api
from tests.support.bad_plugins import BAD, HOSTILE
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow

CANARIES = {  # what the host's environment holds, as the compose file recommends
    "SECRET_KEY": "env-secret-key-canary-1",
    "ADMIN_TOKEN": "env-admin-token-canary-2",
    "MONGODB_URI": "mongodb://env-canary-3:27017/",
    "ENCRYPTION_KEYS": "env-encryption-keys-canary-4",
}
SANDBOX_ENV = {*sandbox.KEPT, "HOME", sandbox.MARK}


@pytest.fixture
def hostile_app(make_app, monkeypatch, tmp_path):
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    app = make_app(
        SCHEDULER_ENABLED=True,
        MAX_ATTEMPTS=1,
        SECRET_KEY="",  # generated into DATA_DIR/secret_key, as without configuration
        ENCRYPTION_KEYS="8MjIC6Zm2XR2C9Z7a8pUEtWp2ThqZ1fyyKuhR8wj2pA=",
    )
    for cls in (*HOSTILE, *BAD):
        services(app).plugins.register(cls, f"package test-plugins ({cls.__name__})")
    return app


def host_secrets(app) -> list[str]:
    data_dir = Path(app.config["DATA_DIR"])
    files = [(data_dir / name).read_text().strip() for name in ("secret_key", "admin_password")]
    config = [app.config[k] for k in ("SECRET_KEY", "ADMIN_TOKEN", "ADMIN_PASSWORD", "ENCRYPTION_KEYS")]
    return [*CANARIES.values(), *files, *config, app.config["MONGODB_URI"], ADMIN_TOKEN]


def finished(api: Api, job_id: str) -> dict | None:
    job = api.job(job_id)
    return job if job["status"] in ("completed", "failed") else None


@pytest.fixture
def evidence(request) -> Path:
    """A directory the hostile plugin writes all it found into, whatever user it runs as."""
    path = Path(tempfile.mkdtemp(prefix="formhooks-evidence-"))  # (in /tmp: nobody can reach it)
    path.chmod(0o777)
    request.addfinalizer(lambda: shutil.rmtree(path, ignore_errors=True))
    return path


def four_calls(app, evidence: Path) -> dict[str, dict]:
    """What the hostile plugin found in each of its calls, whole (the file it wrote: a log row keeps only
    the beginning of a long text), and the API's answer to each."""
    api = Api(app.test_client())
    form = api.create_form()
    looks = {"note": app.config["DATA_DIR"], "evidence": str(evidence)}
    cfg = api.add_plugin(form["id"], "hostile", {**looks, "token": "tok-of-this-config"})
    tested = api.post(f"/api/plugin-configs/{cfg['id']}/test", {"config": looks}).json
    previewed = api.post("/api/plugins/hostile/preview", {"form_id": form["id"], "config": looks})
    assert previewed.status_code == 200, previewed.json
    job_id = api.submit(form["id"], {"n": 1})["jobs"][0]
    job = wait_until(lambda: finished(api, job_id), timeout=20, what="the hostile job")
    answers = {"on_save": cfg, "test_connection": tested, "preview": previewed.json, "execute": job}
    return {
        door: {"found": json.loads((evidence / f"{door}.json").read_text()), "answer": answer}
        for door, answer in answers.items()
    }


def test_a_hostile_plugin_finds_none_of_the_hosts_secrets_in_any_of_its_four_calls(hostile_app, evidence, caplog):
    calls = four_calls(hostile_app, evidence)
    secrets = host_secrets(hostile_app)
    for door, seen in calls.items():
        found = seen["found"]
        assert found["pid"] != os.getpid(), door  # a worker process, preview and on_save included
        assert set(found["environ"]) <= SANDBOX_ENV, door
        assert found["settings"] == {"ALLOW_PRIVATE_DESTINATIONS": True}, door  # SECRET_KEY & co. asked for
        own = found["proc_environ"][str(found["pid"])]
        for environ in (own, found["parent_environ"]):
            assert {line.split("=", 1)[0] for line in environ.split("\n") if line} <= SANDBOX_ENV, door
        if found["uid"] != 0:  # the host's files and processes are out of reach as well
            assert found["files"] == {}, door
            assert str(os.getpid()) not in found["proc_environ"], door
            assert [s for s in secrets if s in json.dumps(seen["answer"])] == [], door
    assert calls["preview"]["answer"]["preview"]["ctx_settings"] == {"ALLOW_PRIVATE_DESTINATIONS": True}
    worker_user = calls["execute"]["found"]["environ"][sandbox.MARK]
    assert Api(hostile_app.test_client()).get("/readyz").json["isolation"]["plugin_user"] == worker_user
    output = calls["execute"]["answer"]["logs"][0]["output"]
    assert output.startswith("with token [secret]\n{")  # what it printed, scrubbed
    assert "tok-of-this-config" not in json.dumps(calls)
    if services(hostile_app).plugin_host.plugin_user != "root":
        assert not [s for s in secrets if any(s in r.getMessage() for r in caplog.records)]


def test_a_plugins_output_goes_bounded_to_its_attempt_and_not_to_the_hosts_log(hostile_app):
    api = Api(hostile_app.test_client())
    form = api.create_form()
    api.add_plugin(form["id"], "chatty", {})
    job_id = api.submit(form["id"], {"n": 1})["jobs"][0]
    job = wait_until(lambda: finished(api, job_id), timeout=20, what="the chatty job")
    [attempt] = job["logs"]
    assert attempt["status"] == "success"
    kept, note = attempt["output"].rsplit("\n[", 1)
    assert len(kept.encode()) <= OUTPUT_LIMIT and kept.startswith("x" * 1000)
    dropped = int(note.split()[0])
    assert dropped == 10 * (1024 * 1024 + 1) + 1024 * 1024 - OUTPUT_LIMIT  # stdout and stderr, counted
    worker = int(attempt["summary"].split()[1])
    for fd in (1, 2):  # the worker's stdout and stderr are not the host's: nothing of it reaches its log
        assert os.readlink(f"/proc/{worker}/fd/{fd}") == "/dev/null"


def test_a_crash_in_preview_or_on_save_is_an_answer_and_the_web_process_lives_on(hostile_app):
    api = Api(hostile_app.test_client())
    form = api.create_form()
    resp = api.post("/api/plugins/segfault/preview", {"form_id": form["id"], "config": {}})
    assert resp.status_code == 200
    assert resp.json["preview"] is None
    assert resp.json["error"] == "Plugin process killed by signal 11."
    resp = api.post(
        f"/api/forms/{form['id']}/plugins", {"plugin_id": "hostile", "config": {"note": "segfault"}}
    )
    assert resp.status_code == 422
    assert resp.json["error"]["details"] == {"config": ["Plugin process killed by signal 11."]}
    assert api.get(f"/api/forms/{form['id']}/plugins").json["items"] == []  # nothing saved
    spin = api.post("/api/plugins/spin/preview", {"form_id": form["id"], "config": {}})
    assert spin.status_code == 200 and spin.json["error"].startswith("Timed out")


def test_what_a_worker_sends_is_never_unpickled_by_the_host(hostile_app, tmp_path):
    api = Api(hostile_app.test_client())
    form = api.create_form()
    planted = tmp_path / "planted"
    api.add_plugin(form["id"], "pickler", {"note": str(planted)})
    job_id = api.submit(form["id"], {"n": 1})["jobs"][0]
    job = wait_until(lambda: finished(api, job_id), timeout=20, what="the pickler job")
    assert job["logs"][0]["error_message"] == "Plugin process sent an answer that is not one."
    assert not planted.exists()  # the code in the pickle never ran in the host


def _python_nobody_can_run() -> str | None:
    """An interpreter of this version that nobody can run with this venv's packages: this one, or the
    system's (this machine's Python lives under /root, which nobody cannot enter)."""
    candidates = [sys.executable, f"/usr/bin/python3.{sys.version_info.minor}"]
    site_packages = [p for p in sys.path if p.endswith("site-packages")]
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": os.pathsep.join([os.getcwd(), *site_packages])}
    for python in candidates:
        probe = [python, "-c", "import app.engine.workers, flask"]
        try:
            done = subprocess.run(probe, env=env, user=65534, group=65534, capture_output=True, check=False)
        except OSError:  # nobody cannot even start it
            continue
        if done.returncode == 0:
            return python
    return None


HOST = """
import json, os
from pathlib import Path
from app import template_budget
from app.config import persistent_secret, private_dir
from app.contract import ExecutionContext
from app.engine.workers import Call, WorkerPool, class_ref
from tests.support.bad_plugins import HostilePlugin

os.environ.update(json.loads(os.environ["CANARIES"]))
data_dir = private_dir(Path(os.environ["PARENT"]) / "data")
secrets = [persistent_secret(data_dir / n) for n in ("secret_key", "admin_password", "admin_token")]
pool = WorkerPool(1, 256, 30)
ctx = ExecutionContext("j", "k", "form.submitted", 1, 1, {"note": str(data_dir)}, {}, 0.0)
call = Call(class_ref(HostilePlugin), {}, "execute", (ctx,), template_budget.current_budget(), 30)
reply = pool.call(call, 30)
pool.shutdown()
print(json.dumps({"found": reply.value["response"]["found"], "secrets": secrets, "host": os.getpid(),
                  "mode": oct(data_dir.stat().st_mode & 0o777)}))
"""


@pytest.mark.skipif(os.getuid() != 0, reason="the switch to nobody happens when the host runs as root")
def test_as_nobody_a_plugin_cannot_read_the_hosts_data_dir_nor_its_processes_environments(request):
    python = _python_nobody_can_run()
    if python is None:
        pytest.skip("no Python of this version that nobody can run")
    parent = Path(tempfile.mkdtemp(prefix="formhooks-world-"))  # in /tmp, open as /srv or /data would be
    parent.chmod(0o755)
    request.addfinalizer(lambda: shutil.rmtree(parent, ignore_errors=True))
    site_packages = [p for p in sys.path if p.endswith("site-packages")]
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join([os.getcwd(), *site_packages]),
        "CANARIES": json.dumps(CANARIES),
        "PARENT": str(parent),
    }
    done = subprocess.run([python, "-c", HOST], env=env, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    report = json.loads(done.stdout.decode().splitlines()[-1])
    found = report["found"]
    assert report["mode"] == "0o700"
    assert found["uid"] == 65534
    assert found["files"] == {}
    assert str(report["host"]) not in found["proc_environ"]
    text = json.dumps(found)
    assert [s for s in [*CANARIES.values(), *report["secrets"]] if s in text] == []
