"""What keeps an accepted submission cheap: jobs handed off to an idle process, markers cleared in batches,
one schema per list of fields, the form and its integrations kept for FORM_CACHE_SECONDS. Each saving keeps
"202 means the submission and its jobs are on disk"."""

from __future__ import annotations

import pymongo
from bson import ObjectId

from app.engine import dispatch
from app.engine.scheduler import scheduler_for
from app.engine.subscriptions import Subscriptions, subscriptions
from app.models import PluginJob, Submission
from tests.conftest import Api
from tests.support.wait import wait_until


def test_a_submission_to_an_idle_process_is_delivered_without_a_poll(make_app, sink):
    app = make_app(SCHEDULER_ENABLED=True, POLL_INTERVAL=3600)
    scheduler = scheduler_for(app)
    scheduler.wake = lambda: None  # no claim can run: only the hand-off delivers
    api = Api(app.test_client())
    form = api.create_form()
    api.add_plugin(form["id"], "webhook", {"url": sink.url})
    job_id = api.submit(form["id"], {"n": 1})["jobs"][0]

    sink.wait_for(1)
    wait_until(lambda: api.job(job_id)["status"] == "completed", what="the job completed")
    job = api.job(job_id)
    assert job["attempts"] == 1 and job["started_at"] == job["created_at"]


def test_a_process_with_a_backlog_leaves_new_jobs_of_that_integration_to_the_claim(make_app, sink):
    app = make_app(SCHEDULER_ENABLED=True, POLL_INTERVAL=3600)
    scheduler = scheduler_for(app)
    scheduler.wake = lambda: None
    scheduler.queue.claim = lambda *_, **__: []  # no claim can run (not even the start-up pass's)
    api = Api(app.test_client())
    form = api.create_form()
    config = api.add_plugin(form["id"], "webhook", {"url": sink.url})
    scheduler._maybe_more = True  # its last claim filled every slot: jobs are waiting in the store...
    scheduler.queue.backlogged = {config["id"]}  # ... jobs of this integration
    job_id = api.submit(form["id"], {"n": 1})["jobs"][0]

    job = api.job(job_id)
    assert (job["status"], job["attempts"], job["lease_owner"]) == ("pending", 0, None)


def test_another_integrations_backlog_does_not_hold_back_a_new_job(make_app, sink):
    app = make_app(SCHEDULER_ENABLED=True, POLL_INTERVAL=3600)
    scheduler = scheduler_for(app)
    scheduler.wake = lambda: None
    scheduler.queue.claim = lambda *_, **__: []
    api = Api(app.test_client())
    form = api.create_form()
    api.add_plugin(form["id"], "webhook", {"url": sink.url})
    scheduler._maybe_more = True
    scheduler.queue.backlogged = {"another workspace's integration"}
    job_id = api.submit(form["id"], {"n": 1})["jobs"][0]

    sink.wait_for(1)
    assert wait_until(lambda: api.job(job_id)["status"] == "completed", what="the job completed")


def test_every_submission_of_a_burst_has_its_marker_cleared(api, app):
    form = api.create_form()
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/x"})
    ids = [api.submit(form["id"], {"n": i})["id"] for i in range(30)]

    assert app.extensions["formhooks.markers"].flush()
    subs = Submission.objects(id__in=ids)
    assert [(s.dispatch_pending, s.pending_events) for s in subs] == [(False, [])] * 30


def test_a_marker_left_after_its_jobs_were_written_makes_the_sweep_create_none(
    api, app, store_uri, db_name
):
    form = api.create_form()
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/x"})
    sub = api.submit(form["id"], {"n": 1})
    assert app.extensions["formhooks.markers"].flush()
    db = pymongo.MongoClient(store_uri)[db_name]
    marker = dispatch.pending_marker("form.submitted", Submission.objects.get(id=sub["id"]).id, 1)
    marker["at"] = marker["at"].replace(year=2000)  # as if the process died before clearing it
    db.submissions.update_one(
        {"_id": Submission.objects.get(id=sub["id"]).id},
        {"$set": {"pending_events": [marker], "dispatch_pending": True}},
    )

    assert dispatch.sweep(max_attempts=5, min_age=0) == 1
    assert [str(j.id) for j in PluginJob.objects(submission_id=sub["id"])] == sub["jobs"]
    assert not db.submissions.find_one({"_id": Submission.objects.get(id=sub["id"]).id})["dispatch_pending"]


def test_changing_a_forms_fields_changes_what_its_submissions_must_hold(api):
    form = api.create_form(fields=[{"name": "email", "type": "email", "required": True}])
    assert api.post(f"/api/forms/{form['id']}/submissions", {"data": {}}).status_code == 422

    changed = api.patch(f"/api/forms/{form['id']}", {"fields": [{"name": "email", "type": "email"}]})
    assert changed.status_code == 200, changed.json
    assert api.post(f"/api/forms/{form['id']}/submissions", {"data": {}}).status_code == 202
    assert api.post(f"/api/forms/{form['id']}/submissions", {"data": {"email": "nope"}}).status_code == 422


def test_a_change_made_through_the_app_applies_to_the_very_next_submission(make_app):
    app = make_app(FORM_CACHE_SECONDS=3600)  # the intake's copy of the form would otherwise live an hour
    api = Api(app.test_client())
    form = api.create_form()
    config = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/x"})
    assert len(api.submit(form["id"], {"n": 1})["jobs"]) == 1

    assert api.patch(f"/api/plugin-configs/{config['id']}", {"enabled": False}).status_code == 200
    assert api.submit(form["id"], {"n": 2})["jobs"] == []
    second = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/y"})
    assert [api.job(j)["config_id"] for j in api.submit(form["id"], {"n": 3})["jobs"]] == [second["id"]]
    assert api.patch(f"/api/forms/{form['id']}", {"accepting_submissions": False}).status_code == 200
    assert api.post(f"/api/forms/{form['id']}/submissions", {"data": {"n": 4}}).status_code == 403


def test_a_change_made_by_another_process_reaches_the_intake_within_form_cache_seconds(
    make_app, store_uri, db_name
):
    app = make_app(FORM_CACHE_SECONDS=0.5)
    api = Api(app.test_client())
    form = api.create_form()
    config = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/x"})
    assert len(api.submit(form["id"], {"n": 0})["jobs"]) == 1
    other_process = pymongo.MongoClient(store_uri)[db_name]
    other_process.plugin_configs.update_one({"_id": ObjectId(config["id"])}, {"$set": {"enabled": False}})

    wait_until(lambda: api.submit(form["id"], {"n": 1})["jobs"] == [], timeout=5, what="the integration off")


def test_without_the_cache_every_submission_reads_the_form(make_app, store_uri, db_name):
    app = make_app(FORM_CACHE_SECONDS=0)
    api = Api(app.test_client())
    form = api.create_form()
    assert api.post(f"/api/forms/{form['id']}/submissions", {"data": {}}).status_code == 202
    other_process = pymongo.MongoClient(store_uri)[db_name]
    other_process.forms.update_one({"_id": ObjectId(form["id"])}, {"$set": {"accepting_submissions": False}})

    assert api.post(f"/api/forms/{form['id']}/submissions", {"data": {}}).status_code == 403


def test_posts_to_forms_that_do_not_exist_are_not_remembered(api, app):
    for _ in range(3):
        assert api.post(f"/api/forms/{ObjectId()}/submissions", {"data": {}}).status_code == 404

    assert subscriptions(app)._forms == {}  # anyone can post to any id: only real forms are kept


def test_a_read_that_overlaps_a_change_is_not_kept():
    cache = Subscriptions(seconds=60)
    cache_dict: dict = {}

    def read_while_a_write_lands():
        cache.forget()  # an admin write finished while this read was on its way
        return "as read before the write"

    assert cache._read(cache_dict, "form", read_while_a_write_lands)[0] == "as read before the write"
    assert cache._read(cache_dict, "form", lambda: "as written")[0] == "as written"
