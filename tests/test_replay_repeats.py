"""A replay's body may name a status (or a submission) twice: each job is then snapshotted twice, counted
twice, and sent again twice when the first requeue has run and failed again before the second batch (the
old single $in read could not return a job twice)."""

from __future__ import annotations

import datetime as dt

from bson import ObjectId

from app.engine import operations
from app.models import PluginJob
from tests.admin_api.conftest import people  # noqa: F401

FIELDS = [{"name": "email", "type": "email"}]


def _failed_jobs(app, hook, form, n, submission_id=None):
    start = dt.datetime(2026, 3, 3, 12)
    docs = [
        {"_id": ObjectId(), "config_id": hook["id"], "form_id": form["id"], "workspace_id": form["workspace_id"],
         "status": "failed", "submission_id": submission_id, "plugin_id": "webhook", "event": "form.submitted",
         "payload": {}, "dispatch_key": f"k{i}:{hook['id']}", "idempotency_key": f"msg_{i}", "attempts": 5,
         "max_attempts": 5, "scheduled_for": 0.0, "created_at": start + dt.timedelta(hours=i)}
        for i in range(n)
    ]
    with app.app_context():
        PluginJob._get_collection().insert_many(docs)
    return [d["_id"] for d in docs]


def _total(api, app, body):
    op = api.post("/api/replays", {**body, "preview": True})
    assert op.status_code == 202, op.json
    with app.app_context():
        assert operations.step("t", 30.0, batch_size=500, inflight_limit=10**9, max_attempts=5).prepared
    return api.get(f"/api/operations/{op.json['id']}").json["total"]


def test_a_status_named_twice_counts_each_job_once(api, app):
    form = api.create_form("Leads", FIELDS)
    hook = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/h"})
    _failed_jobs(app, hook, form, 3)
    assert _total(api, app, {"form_id": form["id"], "statuses": ["failed"]}) == 3
    assert _total(api, app, {"form_id": form["id"], "statuses": ["failed", "failed"]}) == 3  # answers 6


def test_a_submission_named_twice_counts_its_jobs_once(api, app):
    form = api.create_form("Leads", FIELDS)
    hook = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/h"})
    sid = str(ObjectId())
    _failed_jobs(app, hook, form, 2, submission_id=sid)
    body = {"workspace_id": form["workspace_id"], "statuses": ["failed"], "submission_ids": [sid, sid]}
    assert _total(api, app, body) == 2  # answers 4


def test_a_job_is_sent_again_once_per_replay_even_when_its_status_is_named_twice(api, app):
    form = api.create_form("Leads", FIELDS)
    hook = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/h"})
    ids = _failed_jobs(app, hook, form, 3)
    op_id = api.post("/api/replays", {"form_id": form["id"], "statuses": ["failed", "failed"]}).json["id"]
    jobs = PluginJob._get_collection()
    with app.app_context():
        step = lambda: operations.step("t", 30.0, batch_size=3, inflight_limit=10**9, max_attempts=5)  # noqa: E731
        assert step().prepared
        assert step().done == 3  # the first sweep: all three requeued
        # They are sent and fail again (as the inflight limit makes a replay wait for), then the next batch:
        jobs.update_many({"_id": {"$in": ids}}, {"$set": {"status": "failed"}})
        while step().done:
            pass
        statuses = [j["status"] for j in jobs.find({"_id": {"$in": ids}})]
    op = api.get(f"/api/operations/{op_id}").json
    assert (op["total"], op["created"]) == (3, 3), op  # (6, 6): each job requeued twice by one replay
    assert statuses == ["failed"] * 3, statuses
