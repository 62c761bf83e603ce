"""Restore and purge of deleted submissions, per-form retention, erasure by e-mail address, and the record
of each removal: every trace goes (revisions, search postings, jobs, execution logs), nothing else does."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from bson import ObjectId

from app.engine import indexer, operations, retention
from app.models import (
    DataRemoval,
    FormFigures,
    IdempotencyKey,
    Operation,
    PluginExecutionLog,
    PluginJob,
    Submission,
    SubmissionRevision,
    SubmissionTerm,
    WorkflowRun,
    utcnow,
)
from app.models.figures import key as figures_key
from app.models.search_terms import sort_key
from tests.conftest import Api
from tests.support.commands import commands_sent
from tests.support.wait import wait_until

FIELDS = [{"name": "email", "type": "email"}, {"name": "note", "type": "textarea"}]
HOOK = {"url": "http://127.0.0.1:9/hook", "secret": "whsec_c2VjcmV0"}


def _form(api: Api, name: str = "Contact", workspace_id: str | None = None, fields=FIELDS) -> dict:
    body = {"name": name, "fields": fields, **({"workspace_id": workspace_id} if workspace_id else {})}
    resp = api.post("/api/forms", body)
    assert resp.status_code == 201, resp.json
    api.add_plugin(resp.json["id"], "webhook", HOOK)
    return resp.json


def _finish_jobs(sub_id: str) -> None:
    """Its deliveries done, each with the log of its attempt (as the engine leaves them)."""
    for job in PluginJob._get_collection().find({"submission_id": sub_id}):
        PluginJob._get_collection().update_one({"_id": job["_id"]}, {"$set": {"status": "completed"}})
        PluginExecutionLog(
            job_id=str(job["_id"]),
            config_id=job["config_id"],
            form_id=job["form_id"],
            submission_id=sub_id,
            attempt=1,
            status="success",
            request={"body": job.get("payload")},
        ).save()


def _submit(
    api: Api, form: dict, data: dict, *, edits: int = 0, delete: bool = False, age_days: float = 0
) -> str:
    """A submission with ``edits`` revisions, deliveries finished, optionally deleted and received
    ``age_days`` ago."""
    sub_id = api.submit(form["id"], data)["id"]
    for n in range(edits):
        resp = api.patch(f"/api/submissions/{sub_id}", {"data": {**data, "note": f"edit {n}"}})
        assert resp.status_code == 200, resp.json
    if delete:
        assert api.delete(f"/api/submissions/{sub_id}").status_code == 200
    _finish_jobs(sub_id)
    indexer.drain()  # (its search postings: written by the indexer after the 202)
    if age_days:
        at = utcnow() - dt.timedelta(days=age_days)
        Submission._get_collection().update_one(
            {"_id": ObjectId(sub_id)}, {"$set": {"created_at": at, "sort_key": sort_key(at, sub_id)}}
        )
    return sub_id


def traces(sub_id: str) -> dict[str, int]:
    """What the store holds about a submission (postings found by a scan of their id range)."""
    jobs = [str(j["_id"]) for j in PluginJob._get_collection().find({"submission_id": sub_id}, {"_id": 1})]
    logs = PluginExecutionLog._get_collection()
    return {
        "submission": int(
            Submission._get_collection().find_one({"_id": ObjectId(sub_id)}, {"_id": 1}) is not None
        ),
        "revisions": SubmissionRevision._get_collection().count_documents({"submission_id": sub_id}),
        "postings": SubmissionTerm._get_collection().count_documents(
            {"_id": {"$gte": f"{sub_id} ", "$lt": f"{sub_id}!"}}
        ),
        "jobs": len(jobs),
        "logs": logs.count_documents({"$or": [{"submission_id": sub_id}, {"job_id": {"$in": jobs}}]}),
    }


def gone(sub_id: str) -> bool:
    return not any(traces(sub_id).values())


def whole(sub_id: str) -> bool:
    held = traces(sub_id)
    return held["submission"] == 1 and held["postings"] > 0 and held["jobs"] > 0 and held["logs"] > 0


@pytest.fixture
def world(app, api, people):
    """Two workspaces: ours (the admin owns it; an editor and a viewer in it) and another one. (No app
    context held around requests: each request must find its caller anew.)"""
    ours = people.default_workspace()
    other_ws = people.workspace("Other")
    outsider = people.member("out@example.com", {other_ws: "owner"})
    editor = people.member("ed@example.com", {ours: "editor"})
    viewer = people.member("view@example.com", {ours: "viewer"})
    return {
        "ws": ours,
        "other_ws": other_ws,
        "form": _form(api),
        "other_form": _form(outsider.api, "Theirs", other_ws),
        "editor": editor.api,
        "viewer": viewer.api,
        "outsider": outsider.api,
    }


# -- restore and purge ------------------------------------------------------------------------------------


def test_restore_undoes_a_delete_and_sends_nothing(api, world):
    form = world["form"]
    subs = [_submit(api, form, {"email": f"r{i}@example.com"}, edits=i, delete=True) for i in range(3)]
    for sub_id in subs:
        jobs_before = traces(sub_id)["jobs"]
        resp = world["editor"].post(f"/api/submissions/{sub_id}/restore")
        assert resp.status_code == 200 and resp.json["deleted"] is False, resp.json
        assert traces(sub_id)["jobs"] == jobs_before  # no event, no job
    listed = {s["id"] for s in api.get(f"/api/forms/{form['id']}/submissions").json["items"]}
    assert set(subs) <= listed


@pytest.mark.parametrize("who", ["viewer", "outsider", "admin"])
def test_restore_and_purge_refuse_what_they_may_not_do_and_change_nothing(api, world, who):
    form = world["form"]
    deleted = _submit(api, form, {"email": "d@example.com"}, delete=True)
    live = _submit(api, form, {"email": "l@example.com"})
    theirs = _submit(world["outsider"], world["other_form"], {"email": "t@example.com"})
    caller = {"viewer": world["viewer"], "outsider": world["outsider"], "admin": api}[who]
    expected = {"viewer": 403, "outsider": 404, "admin": 409}[who]
    for action in ("restore", "purge"):
        assert caller.post(
            f"/api/submissions/{deleted if who != 'admin' else live}/{action}"
        ).status_code == (expected)
        for missing in ("0" * 24, "nope", str(ObjectId())):
            assert caller.post(f"/api/submissions/{missing}/{action}").status_code == 404
        if who != "outsider":
            assert caller.post(f"/api/submissions/{theirs}/{action}").status_code == 404
    assert (
        caller.post(f"/api/forms/{form['id']}/submissions/purge-deleted").status_code
        == ({"viewer": 403, "outsider": 404, "admin": 200}[who])
    )
    if who != "admin":
        assert whole(deleted) and whole(live) and whole(theirs)
        assert Submission.objects(id=deleted).first().deleted
    else:
        assert gone(deleted) and whole(live) and whole(theirs)


def test_purge_removes_every_trace_of_a_deleted_submission_and_records_it(api, world):
    form = world["form"]
    subs = [
        _submit(api, form, {"email": f"p{i}@example.com", "note": "word " * i}, edits=i, delete=True)
        for i in range(3)
    ]
    keep = _submit(api, form, {"email": "keep@example.com"}, edits=1)
    assert traces(subs[2])["revisions"] == 2 and all(whole(s) for s in subs)
    for sub_id in subs:
        resp = world["editor"].post(f"/api/submissions/{sub_id}/purge")
        assert resp.status_code == 200, resp.json
        assert gone(sub_id), traces(sub_id)
        record = resp.json["removal"]
        assert (
            record["kind"] == "purge"
            and record["submissions"] == 1
            and record["by_email"] == "ed@example.com"
        )
    assert whole(keep) and traces(keep)["revisions"] == 1
    assert world["editor"].post(f"/api/submissions/{subs[0]}/purge").status_code == 404
    listed = api.get(f"/api/removals?form_id={form['id']}").json["items"]
    assert [r["kind"] for r in listed] == ["purge"] * 3


def test_a_submission_with_a_delivery_waiting_is_not_purged(api, world):
    form = world["form"]
    sub_id = api.submit(form["id"], {"email": "w@example.com"})["id"]  # its job waits (no scheduler here)
    assert api.delete(f"/api/submissions/{sub_id}").status_code == 200
    before = traces(sub_id)
    resp = api.post(f"/api/submissions/{sub_id}/purge")
    assert resp.status_code == 409 and "waiting or running" in resp.json["error"]["message"]
    assert traces(sub_id) == before
    bulk = api.post(f"/api/forms/{form['id']}/submissions/purge-deleted").json
    assert bulk["purged"] == 0 and bulk["kept"] == 1 and bulk["removal"] is None
    assert traces(sub_id) == before
    assert DataRemoval.objects.count() == 0


def test_purge_deleted_removes_the_form_s_deleted_submissions_only(api, world):
    form, other = world["form"], world["other_form"]
    deleted = [_submit(api, form, {"email": f"x{i}@example.com"}, edits=i % 2, delete=True) for i in range(4)]
    live = [_submit(api, form, {"email": f"y{i}@example.com"}) for i in range(2)]
    theirs = _submit(world["outsider"], other, {"email": "t@example.com"}, delete=True)
    resp = world["editor"].post(f"/api/forms/{form['id']}/submissions/purge-deleted")
    assert resp.status_code == 200, resp.json
    assert resp.json["purged"] == 4 and resp.json["kept"] == 0 and resp.json["more"] is False
    assert resp.json["removal"]["submissions"] == 4 and resp.json["removal"]["revisions"] == 2
    assert all(gone(s) for s in deleted) and all(whole(s) for s in live) and whole(theirs)
    again = world["editor"].post(f"/api/forms/{form['id']}/submissions/purge-deleted").json
    assert again["purged"] == 0 and again["removal"] is None


# -- retention --------------------------------------------------------------------------------------------


BAD_DAYS = [0, -1, 3651, 10**12, "30", 1.5, True, [30], {"days": 30}]


def test_retention_days_out_of_range_is_a_422_and_changes_nothing(api, world):
    form = world["form"]
    assert api.patch(f"/api/forms/{form['id']}", {"retention_days": 30}).status_code == 200
    for bad in BAD_DAYS:
        resp = api.patch(f"/api/forms/{form['id']}", {"retention_days": bad})
        assert resp.status_code == 422 and "retention_days" in resp.json["error"]["details"], (bad, resp.json)
        assert api.get(f"/api/forms/{form['id']}").json["retention_days"] == 30
        assert api.post("/api/forms", {"name": "New", "retention_days": bad}).status_code == 422


@pytest.mark.parametrize("days", [1, 90, 3650, None])
def test_retention_days_is_set_and_cleared(api, world, days):
    form = world["form"]
    resp = api.patch(f"/api/forms/{form['id']}", {"retention_days": days})
    assert resp.status_code == 200 and resp.json["retention_days"] == days
    assert api.get(f"/api/forms/{form['id']}").json["retention_days"] == days
    assert world["viewer"].patch(f"/api/forms/{form['id']}", {"retention_days": 5}).status_code == 403
    assert world["outsider"].patch(f"/api/forms/{form['id']}", {"retention_days": 5}).status_code == 404
    assert api.get(f"/api/forms/{form['id']}").json["retention_days"] == days


def test_a_retention_pass_removes_old_submissions_and_leaves_young_ones_and_waiting_deliveries(api, world):
    form, other = world["form"], world["other_form"]
    assert api.patch(f"/api/forms/{form['id']}", {"retention_days": 30}).status_code == 200
    old = [_submit(api, form, {"email": f"o{i}@example.com"}, edits=i % 2, age_days=31 + i) for i in range(5)]
    old.append(_submit(api, form, {"email": "od@example.com"}, delete=True, age_days=400))
    young = [
        _submit(api, form, {"email": f"n{i}@example.com"}, age_days=age) for i, age in enumerate((0, 29.9))
    ]
    waiting = api.submit(form["id"], {"email": "w@example.com"})["id"]  # its job waits
    at = utcnow() - dt.timedelta(days=60)
    Submission._get_collection().update_one(
        {"_id": ObjectId(waiting)}, {"$set": {"created_at": at, "sort_key": sort_key(at, waiting)}}
    )
    theirs = _submit(world["outsider"], other, {"email": "t@example.com"}, age_days=999)  # keeps forever
    removed = retention.run_pass(batch=2, share=1.0, seconds=30.0)
    assert removed.submissions == 6 and removed.kept == 1
    assert all(gone(s) for s in old), [traces(s) for s in old]
    assert all(whole(s) for s in young) and whole(theirs)
    assert traces(waiting)["submission"] == 1 and traces(waiting)["jobs"] == 1
    record = api.get(f"/api/removals?form_id={form['id']}").json["items"]
    assert len(record) == 1 and record[0]["kind"] == "retention" and record[0]["submissions"] == 6
    assert record[0]["kept"] == 1 and record[0]["by"] is None and "30 days" in record[0]["detail"]
    retention.run_pass(batch=2, share=1.0, seconds=30.0)  # a second pass the same day: same record
    again = api.get(f"/api/removals?form_id={form['id']}").json["items"]
    assert len(again) == 1 and again[0]["submissions"] == 6 and again[0]["kept"] == 1
    assert world["outsider"].get(f"/api/removals?form_id={form['id']}").status_code == 404


def test_a_retention_pass_stops_at_its_time_budget_and_the_next_one_goes_on(api, world):
    form = world["form"]
    api.patch(f"/api/forms/{form['id']}", {"retention_days": 1})
    old = [_submit(api, form, {"email": f"o{i}@example.com"}, age_days=2) for i in range(4)]
    first = retention.run_pass(batch=1, share=1.0, seconds=0.0)  # one batch, then out of time
    assert first.submissions == 1
    while retention.run_pass(batch=1, share=1.0, seconds=0.0).submissions:
        pass
    assert all(gone(s) for s in old)


def test_a_retention_pass_runs_in_one_process_at_a_time(app, api, world):
    from app.auth.locks import held

    form = world["form"]
    api.patch(f"/api/forms/{form['id']}", {"retention_days": 1})
    old = _submit(api, form, {"email": "o@example.com"}, age_days=2)
    with held(retention.LOCK):  # another process's pass
        assert retention.run(app.config).submissions == 0
    assert whole(old)
    assert retention.run(app.config).submissions == 1 and gone(old)


# -- erasure ----------------------------------------------------------------------------------------------

MATCHES = [
    {"email": "Zoe.Smith@Example.com"},
    {"email": "x@example.com", "note": "Please write to zoe.smith@example.com, not the office."},
    {"email": "x@example.com", "extra": ["a", "ZOE.SMITH@EXAMPLE.COM"]},
    {"email": "x@example.com", "contact": {"primary": " zoe.smith@example.com "}},
]
NEAR_MISSES = [
    {"email": "xzoe.smith@example.com"},
    {"email": "zoe.smith@example.community"},
    {"email": "zoe.smith@example.co"},
    {"email": "smith@example.com", "note": "zoe"},
]


def _erase(api: Api, workspace_id: str, identifier) -> dict:
    resp = api.post(f"/api/workspaces/{workspace_id}/erasures", {"identifier": identifier})
    assert resp.status_code == 202, resp.json
    while (step := operations.step("test", 30.0, 2, 10**9, 5)).done or step.prepared:
        pass
    return api.get(f"/api/operations/{resp.json['id']}").json


def test_erasure_removes_every_trace_of_an_address_across_the_workspace_s_forms(api, world):
    first, second = world["form"], _form(api, "Free-form", fields=[])  # (any field, lists and objects too)
    matched = [_submit(api, first, data, edits=1) for data in MATCHES[:2]]
    matched += [_submit(api, second, data, edits=1) for data in MATCHES]
    matched.append(_submit(api, first, {"email": "zoe.smith@example.com"}, delete=True))
    kept = [_submit(api, first, data) for data in NEAR_MISSES]
    theirs = _submit(world["outsider"], world["other_form"], {"email": "zoe.smith@example.com"})
    op = _erase(api, world["ws"], "ZOE.smith@example.COM")
    assert op["status"] == "completed" and op["kind"] == "erasure", op
    assert all(gone(s) for s in matched), [(i, traces(s)) for i, s in enumerate(matched) if not gone(s)]
    assert all(traces(s)["submission"] == 1 and traces(s)["postings"] for s in kept) and whole(theirs)
    assert op["params"]["identifier"] == "Z***@example.COM" and "private" not in op["params"]
    records = api.get(f"/api/removals?workspace_id={world['ws']}").json["items"]
    erasure = [r for r in records if r["kind"] == "erasure"]
    assert (
        len(erasure) == 1 and erasure[0]["submissions"] == len(matched) and erasure[0]["jobs"] >= len(matched)
    )
    assert erasure[0]["logs"] >= len(matched) and erasure[0]["operation_id"] == op["id"]
    stored = json.dumps([d for d in DataRemoval._get_collection().find()], default=str).casefold()
    stored += json.dumps([d for d in Operation._get_collection().find()], default=str).casefold()
    assert "zoe.smith" not in stored and "oe.smith@" not in stored


def test_erasure_cancels_waiting_deliveries_first(api, world):
    sub_id = api.submit(world["form"]["id"], {"email": "zoe@example.com"})["id"]  # its job waits
    op = _erase(api, world["ws"], "zoe@example.com")
    assert op["created"] == 1 and gone(sub_id)


BAD_IDENTIFIERS = [
    "",
    "zoe",
    "@example.com",
    "zoe@",
    "zoe@localhost",
    "zoe @example.com",
    "zoe@example.com\nBcc: x",
    "a" * 400 + "@x.com",
    42,
    None,
    ["zoe@example.com"],
]


def test_a_bad_identifier_is_a_422_and_starts_nothing(api, world):
    sub_id = _submit(api, world["form"], {"email": "zoe@example.com"})
    for bad in BAD_IDENTIFIERS:
        resp = api.post(f"/api/workspaces/{world['ws']}/erasures", {"identifier": bad})
        assert resp.status_code == 422 and "identifier" in resp.json["error"]["details"], (bad, resp.json)
    assert api.post(f"/api/workspaces/{world['ws']}/erasures", {}).status_code == 422
    assert (
        api.post(f"/api/workspaces/{world['ws']}/erasures", {"identifier": "a@b.co", "x": 1}).status_code
        == 422
    )
    assert Operation.objects.count() == 0 and DataRemoval.objects.count() == 0 and whole(sub_id)


def test_only_the_workspace_s_owner_may_erase(api, world):
    sub_id = _submit(api, world["form"], {"email": "zoe@example.com"})
    body = {"identifier": "zoe@example.com"}
    assert world["editor"].post(f"/api/workspaces/{world['ws']}/erasures", body).status_code == 403
    assert world["viewer"].post(f"/api/workspaces/{world['ws']}/erasures", body).status_code == 403
    assert world["outsider"].post(f"/api/workspaces/{world['ws']}/erasures", body).status_code == 404
    assert api.post(f"/api/workspaces/{world['other_ws']}/erasures", body).status_code == 404
    assert api.post(f"/api/workspaces/{ObjectId()}/erasures", body).status_code == 404
    assert Operation.objects.count() == 0 and whole(sub_id)
    assert world["outsider"].get(f"/api/removals?workspace_id={world['ws']}").status_code == 404


def test_the_scheduler_runs_retention_by_itself(make_app):
    app = make_app(SCHEDULER_ENABLED=True, RETENTION_INTERVAL=0.2, RETENTION_PASS_SECONDS=1.0)
    api = Api(app.test_client())
    form = api.create_form("Contact", FIELDS)
    assert api.patch(f"/api/forms/{form['id']}", {"retention_days": 7}).status_code == 200
    old = _submit(api, form, {"email": "old@example.com"}, age_days=8)
    young = _submit(api, form, {"email": "young@example.com"}, age_days=6)
    wait_until(lambda: gone(old), timeout=20, what="the retention pass")
    assert traces(young)["submission"] == 1


def test_a_bulk_purge_is_bounded_and_says_when_more_remain(api, world, monkeypatch):
    from app.api import removals

    monkeypatch.setattr(removals, "PURGE_LIMIT", 2)
    monkeypatch.setattr(removals, "PURGE_BATCH", 2)
    form = world["form"]
    deleted = [_submit(api, form, {"email": f"b{i}@example.com"}, delete=True) for i in range(5)]
    answers = []
    while not answers or answers[-1]["more"]:
        answers.append(api.post(f"/api/forms/{form['id']}/submissions/purge-deleted").json)
        assert len(answers) <= 5, answers
    assert [a["purged"] for a in answers] == [2, 2, 1] and all(gone(s) for s in deleted)


def test_the_removals_list_shows_only_the_caller_s_workspaces(api, world):
    form = world["form"]
    sub_id = _submit(api, form, {"email": "a@example.com"}, delete=True)
    assert api.post(f"/api/submissions/{sub_id}/purge").status_code == 200
    theirs = _submit(world["outsider"], world["other_form"], {"email": "t@example.com"}, delete=True)
    assert world["outsider"].post(f"/api/submissions/{theirs}/purge").status_code == 200
    ours = api.get("/api/removals").json["items"]
    assert [r["form_id"] for r in ours] == [form["id"]]
    assert [r["form_id"] for r in world["viewer"].get("/api/removals").json["items"]] == [form["id"]]
    assert [r["form_id"] for r in world["outsider"].get("/api/removals").json["items"]] == [
        world["other_form"]["id"]
    ]
    for bad in ("nope", "1234"):
        assert api.get(f"/api/removals?workspace_id={bad}").status_code == 400
        assert api.get(f"/api/removals?form_id={bad}").status_code == 400
    assert api.get(f"/api/removals?workspace_id={world['other_ws']}").status_code == 404
    assert api.get(f"/api/removals?form_id={world['other_form']['id']}").status_code == 404


def test_a_pass_runs_in_its_own_thread_one_at_a_time():
    release, calls = threading.Event(), []

    def housekeeping(what, task):
        calls.append((what, threading.current_thread().name))
        release.wait(10)

    runner = retention.Runner(housekeeping, {}, lambda: False)
    runner.tick()
    runner.tick()  # the first pass still runs: no second one
    wait_until(lambda: calls, timeout=5, what="the first pass")
    release.set()
    runner.thread.join(5)
    runner.tick()
    wait_until(lambda: len(calls) == 2, timeout=5, what="the next pass")
    assert calls == [("retention", "formhooks-retention")] * 2
    stopped = retention.Runner(housekeeping, {}, lambda: True)
    stopped.tick()
    assert stopped.thread is None


def test_a_bulk_purge_reaches_deleted_submissions_stored_before_the_search_index(api, world):
    form = world["form"]
    legacy = [_submit(api, form, {"email": f"old{i}@example.com"}, delete=True) for i in range(2)]
    Submission._get_collection().update_many(
        {"_id": {"$in": [ObjectId(s) for s in legacy]}}, {"$unset": {"sort_key": ""}}
    )
    indexed = _submit(api, form, {"email": "new@example.com"}, delete=True)
    answer = api.post(f"/api/forms/{form['id']}/submissions/purge-deleted").json
    assert answer["purged"] == 3 and all(gone(s) for s in (*legacy, indexed))


# -- erasure reaches every place a submission's data or the address is kept ---------------------------------

ZOE = "zoe.smith@example.com"


def _stored_anywhere(text: str) -> list[str]:
    """The collections of the store where ``text`` appears (case-insensitively, or as a document key) in
    some document."""
    db = Submission._get_collection().database
    found = []
    for name in db.list_collection_names():
        stored = json.dumps(list(db[name].find()), default=str).casefold()
        if text in stored or figures_key(text).casefold() in stored:
            found.append(name)
    return found


def _run(world: dict, trigger: dict, status: str = "succeeded", submission_id: str | None = None) -> str:
    """A workflow run as the engine leaves it, with its one step's job and that job's log."""
    run_id = ObjectId()
    WorkflowRun._get_collection().insert_one(
        {
            "_id": run_id,
            "workflow_id": str(ObjectId()),
            "workspace_id": world["ws"],
            "version": 1,
            "steps": [{"name": "send", "plugin_id": "webhook"}],
            "trigger": trigger,
            "trigger_key": f"k{run_id}",
            "status": status,
            "records": {"send": {"status": "succeeded", "output": {"echo": trigger["data"].get("data")}}},
        }
    )
    job_id = ObjectId()
    PluginJob._get_collection().insert_one(
        {
            "_id": job_id,
            "config_id": "wf",
            "form_id": "",
            "workspace_id": world["ws"],
            "submission_id": submission_id,
            "plugin_id": "webhook",
            "event": "workflow.run",
            "status": "completed",
            "payload": trigger["data"],
            "dispatch_key": f"run:{run_id}:0",
            "idempotency_key": f"run:{run_id}:0",
            "run_id": str(run_id),
            "step": 0,
        }
    )
    PluginExecutionLog(
        job_id=str(job_id), config_id="wf", attempt=1, status="success", request={"body": trigger["data"]}
    ).save()
    return str(run_id)


def _seed_idempotency(api, world) -> None:
    resp = api.post(
        f"/api/forms/{world['form']['id']}/submissions",
        {"data": {"email": ZOE}},
        headers={"Idempotency-Key": f"signup {ZOE}"},
    )
    assert resp.status_code == 202, resp.json
    IdempotencyKey._get_collection().update_one(  # (a stored response may carry what was sent)
        {"submission_id": resp.json["id"]}, {"$set": {"response": {**resp.json, "data": {"email": ZOE}}}}
    )
    _finish_jobs(resp.json["id"])
    indexer.drain()


def _seed_legacy_history(api, world) -> None:
    sub_id = _submit(api, world["form"], {"email": "new.address@elsewhere.org"})  # (no word in common)
    history = [{"revision": 1, "data": {"email": ZOE.upper()}, "updated_at": utcnow()}]
    Submission._get_collection().update_one(  # stored before revisions moved out; never edited since
        {"_id": ObjectId(sub_id)}, {"$set": {"history": history, "revision": 2}}
    )


def _seed_submission_run(api, world) -> None:
    sub_id = _submit(api, world["form"], {"email": ZOE})
    data = {"submission": {"id": sub_id}, "data": {"email": ZOE}, "event": "form.submitted"}
    _run(world, {"type": "form_event", "key": "k", "data": data}, submission_id=sub_id)


def _seed_inbound_run(api, world) -> None:
    data = {"submission": None, "data": {"contact": f"Write to {ZOE}"}, "event": "workflow.inbound"}
    _run(world, {"type": "inbound", "key": "k", "data": data}, status="failed")


def _seed_figures(api, world) -> None:
    for address in (ZOE, "someone.else@example.com"):
        _submit(api, world["form"], {"email": address, "note": "hello"})  # (the indexer counts the values)


SEEDS = {
    "idempotency record": _seed_idempotency,
    "legacy history": _seed_legacy_history,
    "workflow run of a submission": _seed_submission_run,
    "inbound workflow run": _seed_inbound_run,
    "results figures": _seed_figures,
}


@pytest.mark.parametrize("kind", SEEDS)
def test_erasure_leaves_nothing_of_the_address_anywhere(api, world, kind):
    SEEDS[kind](api, world)
    other = _submit(api, world["form"], {"email": "keep.me@example.com", "note": "hello"})
    assert _stored_anywhere(ZOE)
    op = _erase(api, world["ws"], ZOE)
    assert op["status"] == "completed", op
    assert _stored_anywhere(ZOE) == []
    assert whole(other)
    days = list(FormFigures._get_collection().find({"form_id": world["form"]["id"]}))
    for figures in days:  # every submission still counted: the erased address's went to "other"
        email = figures["fields"]["email"]
        assert email["filled"] == sum(email["t"]["v"].values()) + email["t"].get("x", 0), figures


@pytest.mark.parametrize("record_lost", [False, True])
def test_erasure_reads_who_started_it_once_whatever_its_batches(api, world, monkeypatch, record_lost):
    from pymongo.collection import Collection

    for i in range(6):
        _submit(api, world["form"], {"email": ZOE, "note": f"n{i}"})
    resp = api.post(f"/api/workspaces/{world['ws']}/erasures", {"identifier": ZOE})
    assert resp.status_code == 202
    if record_lost:  # (the request stopped before writing it: the first batch writes it)
        DataRemoval.objects(operation_id=resp.json["id"]).delete()
    user_reads = []
    real = Collection.find_one

    def find_one(self, *args, **kwargs):
        if self.name == "users":
            user_reads.append(args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "find_one", find_one)
    batches = 0
    while (step := operations.step("test", 30.0, 2, 10**9, 5)).done or step.prepared:  # batches of 2
        batches += bool(step.done)
    assert batches == 3
    record = DataRemoval.objects(operation_id=resp.json["id"]).get()
    assert record.submissions == 6 and record.by_email == "admin@example.com"
    assert len(user_reads) == (1 if record_lost else 0), user_reads


@pytest.mark.parametrize("trigger", ["manual", "inbound"])
def test_another_workspace_cannot_name_our_submission_in_its_runs_to_block_its_erasure(
    app, api, world, trigger
):
    """A run's submission (what removal keeps a submission for while its steps wait, and removes with it)
    comes only from the workspace's own form events: input that names another workspace's submission id
    stays input."""
    from tests.workflows.conftest import create_workflow

    ours = _submit(api, world["form"], {"email": ZOE, "note": "mine"})
    theirs = world["outsider"]
    step = [{"name": "s", "plugin_id": "webhook", "config": {"url": HOOK["url"]}}]  # (never answered: waits)
    wf = create_workflow(theirs, {"type": trigger}, step, workspace_id=world["other_ws"])
    forged = {"submission": {"id": ours}, "data": {"submission": {"id": ours}}, "submission_id": ours}
    if trigger == "manual":
        started = theirs.post(f"/api/workflows/{wf['id']}/run", {"data": forged})
    else:
        started = app.test_client().post(wf["inbound_path"], json=forged)
    assert started.status_code == 202, started.json
    waiting = list(PluginJob._get_collection().find({"workspace_id": world["other_ws"], "status": "pending"}))
    assert waiting and all(job.get("submission_id") != ours for job in waiting)
    op = _erase(api, world["ws"], ZOE)
    assert op["status"] == "completed", op
    assert Submission._get_collection().count_documents({"_id": ObjectId(ours)}) == 0  # not kept
    assert WorkflowRun._get_collection().count_documents({"workspace_id": world["other_ws"]}) == 1


REMOVED_FROM = {  # the collections a removal reads and deletes in, besides the submission's own by _id
    "plugin_jobs",
    "plugin_execution_logs",
    "submission_terms",
    "submission_revisions",
    "idempotency_keys",
    "workflow_runs",
}


def _index_served(collection: str, filt: dict) -> bool:
    """A filter the embedded store answers from an index: by ``_id``, or ``$eq`` on fields, the first of
    them an index's leading key (nx-27017 walks the whole collection for a ``$in`` or a delete on any field
    but ``_id``)."""
    if "_id" in filt:
        return True
    indexes = Submission._get_collection().database[collection].index_information().values()
    leading = {index["key"][0][0] for index in indexes}
    conditions = list(filt.items())
    return bool(conditions) and conditions[0][0] in leading and all(
        isinstance(cond, dict) and set(cond) == {"$eq"} for _, cond in conditions
    )


def test_a_purge_finds_every_trace_by_index_and_deletes_by_id(api, world):
    """A purge of an edited submission with an Idempotency-Key record and a workflow run removes all of
    them, each found by an index and deleted by ``_id``: no read or delete that walks a collection, whose
    cost would grow with everything the instance holds."""
    form = world["form"]
    resp = api.post(
        f"/api/forms/{form['id']}/submissions", {"data": {"email": ZOE}}, headers={"Idempotency-Key": "k-1"}
    )
    sub_id = resp.json["id"]
    for n in range(2):
        assert api.patch(f"/api/submissions/{sub_id}", {"data": {"email": ZOE, "note": f"e{n}"}}).status_code == 200
    _finish_jobs(sub_id)
    indexer.drain()
    data = {"submission": {"id": sub_id}, "data": {"email": ZOE}, "event": "form.submitted"}
    run_id = _run(world, {"type": "form_event", "key": "k", "data": data}, submission_id=sub_id)
    assert api.delete(f"/api/submissions/{sub_id}").status_code == 200
    assert traces(sub_id)["revisions"] == 2 and IdempotencyKey.objects(submission_id=sub_id).count() == 1
    with commands_sent() as sent:
        assert world["editor"].post(f"/api/submissions/{sub_id}/purge").status_code == 200
    assert gone(sub_id) and not IdempotencyKey.objects(submission_id=sub_id).count()
    assert WorkflowRun.objects(id=run_id).count() == 0
    filters = [
        (cmd[name], filt)
        for name, cmd in sent
        if cmd.get(name) in REMOVED_FROM
        for filt in ([cmd.get("filter") or {}] if name == "find" else [d["q"] for d in cmd.get("deletes", ())])
    ]
    assert len(filters) > 6 and [f for f in filters if not _index_served(*f)] == []


def test_a_deleted_forms_data_is_removed_in_the_background_in_batches_and_recorded(api, world):
    """Deleting a form answers at once; its submissions, with their revisions, postings, jobs and logs,
    go in a retention pass's paced batches (all at once, a form of 500,000 held the store for minutes)."""
    form, other = world["form"], world["other_form"]
    subs = [_submit(api, form, {"email": f"d{i}@example.com"}, edits=i % 2, delete=i == 3) for i in range(5)]
    legacy = _submit(api, form, {"email": "l@example.com"})
    Submission._get_collection().update_one({"_id": ObjectId(legacy)}, {"$unset": {"sort_key": ""}})
    theirs = _submit(world["outsider"], other, {"email": "t@example.com"})
    with commands_sent() as sent:
        assert api.delete(f"/api/forms/{form['id']}").status_code == 204
    removed_now = [cmd["delete"] for name, cmd in sent if name == "delete"]
    assert set(removed_now) <= {"plugin_configs", "forms"}, removed_now
    assert api.get(f"/api/forms/{form['id']}").status_code == 404
    assert api.get(f"/api/submissions/{subs[0]}").status_code == 404  # (gone for everyone at once)
    assert all(whole(s) for s in subs[:3])  # (held until the pass)
    assert api.delete(f"/api/forms/{form['id']}").status_code == 404
    records = lambda: [r for r in api.get("/api/removals").json["items"] if r["kind"] == "form_deletion"]  # noqa: E731
    (record,) = records()
    assert record["remaining"] and "Contact" in record["detail"] and record["submissions"] == 0

    removed = retention.run_pass(batch=2, share=1.0, seconds=30.0)

    assert removed.submissions == 6 and all(gone(s) for s in [*subs, legacy]) and whole(theirs)
    (record,) = records()
    assert not record["remaining"] and record["submissions"] == 6 and record["jobs"] == 6 and record["logs"] == 6
    assert record["revisions"] == 2
    assert retention.run_pass(batch=2, share=1.0, seconds=30.0).submissions == 0
