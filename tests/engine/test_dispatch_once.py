"""Dispatch creates each (event occurrence, integration) job once, however often it runs or crashes."""

from __future__ import annotations

import datetime as dt
import threading

from bson import ObjectId

from app.engine import dispatch
from app.models import Form, PluginConfig, PluginJob, Submission, utcnow
from app.signals import FormEvent


def _world(configs: int = 2) -> tuple[dict, dict, dict]:
    form = {"_id": ObjectId(), "name": "F", "workspace_id": "w", "fields": []}
    Form._get_collection().insert_one(form)
    for i in range(configs):
        PluginConfig._get_collection().insert_one(
            {"_id": ObjectId(), "form_id": str(form["_id"]), "workspace_id": "w", "plugin_id": "webhook",
             "name": f"h{i}", "enabled": True, "trigger_events": ["form.submitted"], "config": {}}
        )
    at = utcnow() - dt.timedelta(minutes=5)
    marker = dispatch.pending_marker("form.submitted", "x", 1)
    sub = {"_id": ObjectId(), "form_id": str(form["_id"]), "workspace_id": "w", "data": {"a": 1}, "revision": 1,
           "deleted": False, "created_at": at, "updated_at": at, "dispatch_pending": True}
    marker = {**dispatch.pending_marker("form.submitted", sub["_id"], 1), "at": at}
    sub["pending_events"] = [marker]
    Submission._get_collection().insert_one(sub)
    event = FormEvent("form.submitted", str(form["_id"]), marker["key"], at, str(sub["_id"]), 1)
    return form, sub, {"event": event}


def test_dispatching_the_same_event_twice_creates_each_job_once(app):
    form, sub, ctx = _world(configs=2)
    first = dispatch.dispatch(ctx["event"], form, sub, 5)
    second = dispatch.dispatch(ctx["event"], form, sub, 5)
    assert [j["new"] for j in first] == [True, True]
    assert [j["new"] for j in second] == [False, False]
    assert {j["_id"] for j in first} == {j["_id"] for j in second}
    assert PluginJob.objects.count() == 2


def test_a_dispatch_that_finds_some_of_its_jobs_creates_the_others(app):
    form, sub, ctx = _world(configs=3)
    first = dispatch.dispatch(ctx["event"], form, sub, 5)
    lost = [job["_id"] for job in first[1:]]  # as if only the first job had been written
    PluginJob._get_collection().delete_many({"_id": {"$in": lost}})

    second = dispatch.dispatch(ctx["event"], form, sub, 5)

    assert sorted(job["new"] for job in second) == [False, True, True]
    assert PluginJob.objects.count() == 3


def test_concurrent_dispatches_of_one_event_create_each_job_once(app):
    form, sub, ctx = _world(configs=3)
    start = threading.Barrier(4)

    def run() -> None:
        start.wait()
        dispatch.dispatch(ctx["event"], form, sub, 5)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert PluginJob.objects.count() == 3


def test_the_sweep_finishes_a_dispatch_that_crashed_before_its_jobs(app):
    _world(configs=2)
    assert dispatch.sweep(max_attempts=5, min_age=60) == 1
    assert PluginJob.objects.count() == 2
    assert dispatch.sweep(max_attempts=5, min_age=60) == 0  # the marker is gone
    assert not Submission._get_collection().find_one({})["dispatch_pending"]


def test_the_sweep_leaves_fresh_markers_to_the_request_that_wrote_them(app):
    _world(configs=1)
    assert dispatch.sweep(max_attempts=5, min_age=3600) == 0
    assert PluginJob.objects.count() == 0


def test_the_snapshot_keeps_the_data_as_it_was_at_the_event(app):
    form, sub, ctx = _world(configs=1)
    dispatch.dispatch(ctx["event"], form, sub, 5)
    Submission._get_collection().update_one({"_id": sub["_id"]}, {"$set": {"data": {"a": 2}}})
    assert PluginJob._get_collection().find_one({})["payload"]["data"] == {"a": 1}
