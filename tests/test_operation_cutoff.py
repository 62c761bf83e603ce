"""An operation covers exactly the items accepted before its 202, whichever process accepted them.

An ObjectId is a second, then a per-process random value, then a counter: items other processes accept in
the same second (or with a clock a little ahead) can compare higher than an id made by the process that
takes the request. Here the ids of "other processes" are made as those processes would make them.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
import requests
from bson import ObjectId

from app.models import Operation, PluginJob, Submission, search_terms, utcnow
from tests.support.procs import AppProcess, admin_session, app_env
from tests.support.wait import wait_until
from tests.test_backfill_replay import FIELDS, _hook, _preview, _run_to_end

# (random part of the process's ids, how far its clock is ahead of this one's)
OTHER_PROCESSES = [(b"\xff" * 5, 0.0), (b"\x80\x00\x00\x00\x01", 0.9), (b"\xfe" * 5, 3.0)]


def _id_made_by(random_part: bytes, at: dt.datetime, n: int) -> ObjectId:
    seconds = int(at.replace(tzinfo=dt.UTC).timestamp())
    return ObjectId(seconds.to_bytes(4, "big") + random_part + n.to_bytes(3, "big"))


def _accept(app, form: dict, per_process: int, first: int) -> list[str]:
    """Submissions as the intakes of this and the other processes write them, each at its own clock."""
    docs = []
    for process, (random_part, ahead) in enumerate([(None, 0.0), *OTHER_PROCESSES]):
        for n in range(first, first + per_process):
            at = utcnow() + dt.timedelta(seconds=ahead)
            sub_id = ObjectId() if random_part is None else _id_made_by(random_part, at, n)
            doc = {"_id": sub_id, "form_id": form["id"], "workspace_id": form["workspace_id"],
                   "data": {"email": f"p{process}-{n}@example.com"}, "revision": 1, "deleted": False,
                   "created_at": at, "updated_at": at, "pending_events": [], "dispatch_pending": False}
            docs.append({**doc, **search_terms.search_fields(doc)})
    with app.app_context():
        Submission._get_collection().insert_many(docs)
    return [str(d["_id"]) for d in docs]


def test_a_backfill_covers_what_every_process_accepted_before_it_and_nothing_after(api, app):
    form = api.create_form("Leads", FIELDS)
    hook = _hook(api, form)
    path = f"/api/plugin-configs/{hook['id']}/backfill"
    _accept(app, form, 20, 0)
    started = api.post(path, {"preview": True})  # (prepared below, after more were accepted)
    assert started.status_code == 202
    _accept(app, form, 5, 100)  # after its 202: not part of it
    with app.app_context():
        _run_to_end()
    assert api.get(f"/api/operations/{started.json['id']}").json["total"] == 80
    assert _preview(api, path, {}, app) == 100  # a preview started now counts them all

    before = _accept(app, form, 10, 200)
    run = api.post(path, {})
    _accept(app, form, 10, 300)
    with app.app_context():
        _run_to_end()
        sent = {j["submission_id"] for j in PluginJob._get_collection().find({"config_id": hook["id"]})}
    op = api.get(f"/api/operations/{run.json['id']}").json
    assert (op["total"], op["created"]) == (140, 140)
    assert set(before) <= sent and len(sent) == 140
    assert "recent" not in op["params"]  # (the cut-off's ids stay internal)


def _failed_jobs(app, hook: dict, form: dict, per_process: int, first: int) -> None:
    docs = []
    for random_part, ahead in [(None, 0.0), *OTHER_PROCESSES]:
        for n in range(first, first + per_process):
            at = utcnow() + dt.timedelta(seconds=ahead)
            job_id = ObjectId() if random_part is None else _id_made_by(random_part, at, n)
            docs.append(
                {"_id": job_id, "config_id": hook["id"], "form_id": form["id"],
                 "workspace_id": form["workspace_id"], "status": "failed", "submission_id": None,
                 "plugin_id": "webhook", "event": "form.submitted", "payload": {},
                 "dispatch_key": f"k{job_id}", "idempotency_key": f"msg_{job_id}", "attempts": 5,
                 "max_attempts": 5, "scheduled_for": 0.0, "created_at": at}
            )
    with app.app_context():
        PluginJob._get_collection().insert_many(docs)


@pytest.mark.parametrize("scope", ["config_id", "form_id"])
def test_a_replay_covers_the_jobs_every_process_made_before_it_and_nothing_after(api, app, scope):
    form = api.create_form("Leads", FIELDS)
    hook = _hook(api, form)
    _failed_jobs(app, hook, form, 15, 0)
    body = {scope: hook["id"] if scope == "config_id" else form["id"], "statuses": ["failed"]}
    started = api.post("/api/replays", {**body, "preview": True})
    _failed_jobs(app, hook, form, 5, 100)
    with app.app_context():
        _run_to_end()
    assert api.get(f"/api/operations/{started.json['id']}").json["total"] == 60
    assert _preview(api, "/api/replays", body, app) == 80


@pytest.mark.slow
def test_two_processes_accepting_while_a_backfill_starts(make_app, store_uri, db_name, tmp_path):
    """Real processes (each with its own ObjectId random part): every submission whose 202 came before the
    backfill was asked for is sent; none asked for after the backfill's 202 is."""
    env = app_env(store_uri, db_name, tmp_path, SCHEDULER_ENABLED="false", SUBMIT_RATE_LIMIT="")
    procs = [AppProcess(env, tmp_path / f"app{i}.log") for i in range(2)]
    try:
        s = admin_session()
        form = s.post(procs[0].url + "/api/forms", json={"name": "f"}).json()
        hook = s.post(
            f"{procs[0].url}/api/forms/{form['id']}/plugins",
            json={"plugin_id": "webhook", "config": {"url": "https://example.com/hook"}},
        ).json()
        accepted: list[tuple[float, float, str]] = []  # (asked at, 202 at, id)
        stop = threading.Event()

        def submit(url: str) -> None:
            session = requests.Session()
            while not stop.is_set():
                asked = time.monotonic()
                resp = session.post(f"{url}/api/forms/{form['id']}/submissions", json={"data": {"n": 1}})
                assert resp.status_code == 202, resp.text
                accepted.append((asked, time.monotonic(), resp.json()["id"]))

        threads = [threading.Thread(target=submit, args=(p.url,)) for p in procs for _ in range(2)]
        for t in threads:
            t.start()
        wait_until(lambda: len(accepted) >= 40, what="submissions accepted before the backfill")
        asked = time.monotonic()
        started = s.post(  # (resend: its own job for each, beside the live ones)
            f"{procs[1].url}/api/plugin-configs/{hook['id']}/backfill", json={"resend": True}
        )
        answered = time.monotonic()
        wait_until(lambda: sum(a > answered for a, _, _ in accepted) >= 20, what="submissions after it")
        stop.set()
        for t in threads:
            t.join()
        assert started.status_code == 202
    finally:
        for p in procs:
            p.stop()
    app = make_app()
    with app.app_context():
        _run_to_end()
        op_id = started.json()["id"]
        sent = {j["submission_id"] for j in PluginJob._get_collection().find({"operation_id": op_id})}
        op = Operation._get_collection().find_one({"_id": ObjectId(op_id)})
    before = {sid for _, got, sid in accepted if got < asked}
    after = {sid for sent_at, _, sid in accepted if sent_at > answered}
    assert len(before) > 20 and len(after) > 5, (len(before), len(after))
    assert before <= sent, f"{len(before - sent)} accepted before the backfill were left out"
    assert not after & sent
    assert op["total"] == len(sent)
