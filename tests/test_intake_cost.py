"""What keeps an accepted submission cheap: jobs handed off to an idle process, markers cleared in batches,
one schema per list of fields, the form and its integrations kept for FORM_CACHE_SECONDS. Each saving keeps
"202 means the submission and its jobs are on disk"."""

from __future__ import annotations

import json
import threading

import pymongo
import pytest
from bson import ObjectId
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from app.engine import dispatch, write_unit
from app.engine import subscriptions as subscriptions_module
from app.engine.slots import share_of
from app.engine.subscriptions import Subscriptions
from app.models import PluginConfig, PluginJob, Submission
from app.services import services
from app.store.traits import MONGODB
from tests.admin_api.conftest import People
from tests.conftest import Api
from tests.support.wait import wait_until
from tests.test_webhook_rotation import NEW, OLD, deliver, verifies


def test_a_submission_to_an_idle_process_is_delivered_without_a_poll(make_app, sink):
    app = make_app(SCHEDULER_ENABLED=True, POLL_INTERVAL=3600)
    scheduler = services(app).scheduler
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
    scheduler = services(app).scheduler
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
    scheduler = services(app).scheduler
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


def test_a_submission_and_its_jobs_are_written_in_one_command(api, monkeypatch):
    form = api.create_form()
    for path in ("x", "y"):
        api.add_plugin(form["id"], "webhook", {"url": f"http://127.0.0.1:9/{path}"})
    writes: list[str] = []
    real_bulk_write, real_insert_many = pymongo.MongoClient.bulk_write, Collection.insert_many

    def bulk_write(client, models, **kwargs):
        writes.append("bulkWrite")
        return real_bulk_write(client, models, **kwargs)

    def insert_many(coll, docs, **kwargs):
        writes.append(f"insert into {coll.name}")
        return real_insert_many(coll, docs, **kwargs)

    monkeypatch.setattr(pymongo.MongoClient, "bulk_write", bulk_write)
    monkeypatch.setattr(Collection, "insert_many", insert_many)
    sub = api.submit(form["id"], {"n": 1})

    assert writes == ["bulkWrite"]
    assert sorted(str(j.id) for j in PluginJob.objects(submission_id=sub["id"])) == sorted(sub["jobs"])
    assert len(sub["jobs"]) == 2


def test_on_a_store_that_writes_a_submission_and_its_jobs_together_no_marker_is_written(
    api, app, monkeypatch
):
    form = api.create_form()
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/x"})
    updates: list[str] = []
    real_update_many = Collection.update_many

    def update_many(coll, *args, **kwargs):
        updates.append(coll.name)
        return real_update_many(coll, *args, **kwargs)

    monkeypatch.setattr(Collection, "update_many", update_many)
    ids = [api.submit(form["id"], {"n": i})["id"] for i in range(10)]

    assert services(app).inserts.submissions.group.atomic()  # the embedded store says so
    assert services(app).markers.flush()
    assert "submissions" not in updates  # nothing to clear
    subs = Submission.objects(id__in=ids)
    assert [(s.dispatch_pending, s.pending_events) for s in subs] == [(False, [])] * 10


def _cleared_markers(monkeypatch) -> list[str]:
    """The ids whose markers the marker clearer removes from now on."""
    cleared: list[str] = []
    real_write = dispatch.MarkerClearer.write

    def write(clearer, batch):
        cleared.extend(str(owner_id) for _, owner_id, _ in batch)
        return real_write(clearer, batch)

    monkeypatch.setattr(dispatch.MarkerClearer, "write", write)
    return cleared


def test_where_the_write_may_stop_part_way_every_submission_of_a_burst_has_its_marker_cleared(
    api, app, monkeypatch
):
    services(app).inserts.submissions.group._traits = MONGODB  # as MongoDB answers
    cleared = _cleared_markers(monkeypatch)
    form = api.create_form()
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/x"})
    ids = [api.submit(form["id"], {"n": i})["id"] for i in range(30)]

    assert services(app).markers.flush()
    assert sorted(cleared) == sorted(ids)  # each was written with its marker, and the marker cleared
    subs = Submission.objects(id__in=ids)
    assert [(s.dispatch_pending, s.pending_events) for s in subs] == [(False, [])] * 30


def test_a_marker_left_after_its_jobs_were_written_makes_the_sweep_create_none(api, app, store_uri, db_name):
    form = api.create_form()
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/x"})
    sub = api.submit(form["id"], {"n": 1})
    assert services(app).markers.flush()
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

    assert services(app).subscriptions._forms == {}  # anyone can post to any id: only real forms are kept


def test_a_read_that_overlaps_a_change_is_not_kept():
    cache = Subscriptions(seconds=60)
    cache_dict: dict = {}

    def read_while_a_write_lands():
        cache.forget()  # an admin write finished while this read was on its way
        return "as read before the write"

    assert cache._read(cache_dict, "form", read_while_a_write_lands)[0] == "as read before the write"
    assert cache._read(cache_dict, "form", lambda: "as written")[0] == "as written"


def test_spellings_of_one_form_id_share_one_copy_of_the_form(make_app):
    """Attack: post to A's form (or one's own big form) under every upper/lower-case spelling of its id;
    each spelling used to keep its own copy of the form, never dropped before 10,000 (memory)."""
    app = make_app(FORM_CACHE_SECONDS=3600)
    api = Api(app.test_client())
    form = api.create_form()
    spellings = {form["id"].lower(), form["id"].upper(), form["id"][:12].upper() + form["id"][12:].lower()}
    for spelling in spellings:
        # a rejected post (no body) reads the form too: rejection is no protection
        assert api.post(f"/api/forms/{spelling}/submissions", {"nope": 1}).status_code == 422

    assert list(services(app).subscriptions._forms) == [form["id"]]


@pytest.mark.parametrize("form_id", ["nope", "x" * 5000, "0" * 23, "g" * 24, "%00", "A" * 24])
def test_posts_to_ids_that_are_not_forms_are_404_and_not_remembered(api, app, form_id):
    assert api.post(f"/api/forms/{form_id}/submissions", {"data": {}}).status_code == 404
    assert services(app).subscriptions._forms == {}


def test_a_read_that_began_before_a_change_is_not_kept_after_it(make_app, monkeypatch):
    """Attack (race): a submission reads the integrations, the owner disables one and is answered, then
    the submission stores what it read: the next submission must not deliver to the disabled one."""
    app = make_app(FORM_CACHE_SECONDS=3600)
    api = Api(app.test_client())
    form = api.create_form()
    config = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/x"})
    read, go_on = threading.Event(), threading.Event()
    real = subscriptions_module.enabled_configs

    def slow_read(form_id):
        docs = real(form_id)
        if not read.is_set():
            read.set()
            assert go_on.wait(10)
        return docs

    monkeypatch.setattr(subscriptions_module, "enabled_configs", slow_read)
    first: list = []
    racer = threading.Thread(target=lambda: first.append(Api(app.test_client()).submit(form["id"], {"n": 1})))
    racer.start()
    assert read.wait(10)  # the submission has read the integration, enabled
    assert api.patch(f"/api/plugin-configs/{config['id']}", {"enabled": False}).status_code == 200
    go_on.set()
    racer.join(10)

    assert len(first[0]["jobs"]) == 1  # (it read before the change: its job is fair)
    assert api.submit(form["id"], {"n": 2})["jobs"] == []


def test_a_refused_write_of_another_workspace_keeps_the_cache(make_app):
    """B's refused PATCH of A's integration, and anyone's posts to no route, change nothing: this process
    keeps its copies (they cost A's intake no read); A's own change empties them at once."""
    app = make_app(FORM_CACHE_SECONDS=3600)
    api = Api(app.test_client())
    form = api.create_form()
    config = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/x"})
    people = People(app)
    b = people.member("b@example.com", {people.workspace("B"): "owner"})
    assert len(api.submit(form["id"], {"n": 1})["jobs"]) == 1
    assert services(app).subscriptions._forms

    assert b.api.patch(f"/api/plugin-configs/{config['id']}", {"enabled": False}).status_code == 404
    assert app.test_client().post("/api/nowhere", json={}).status_code == 404
    assert api.patch(f"/api/plugin-configs/{config['id']}", {"max_attempts": -1}).status_code == 422
    assert services(app).subscriptions._forms
    assert PluginConfig.objects.get(id=config["id"]).enabled

    assert api.patch(f"/api/plugin-configs/{config['id']}", {"enabled": False}).status_code == 200
    assert services(app).subscriptions._forms == {}
    assert api.submit(form["id"], {"n": 2})["jobs"] == []


def test_a_rotated_secret_signs_the_very_next_delivery(make_app, sink):
    """A owner rotates a webhook secret (e.g. after a leak): the next submission in this process must not
    be signed with the cached old config alone."""
    app = make_app(SCHEDULER_ENABLED=True, FORM_CACHE_SECONDS=3600)
    api = Api(app.test_client())
    form = api.create_form()
    config = api.add_plugin(form["id"], "webhook", {"url": sink.url, "secret": OLD})
    assert verifies(OLD, deliver(api, form["id"], sink))
    resp = api.patch(f"/api/plugin-configs/{config['id']}", {"config": {"url": sink.url, "secret": NEW}})
    assert resp.status_code == 200, resp.json

    assert verifies(NEW, deliver(api, form["id"], sink))


class _GatedCollection:
    """The real collection, whose first insert_many waits for ``go`` (so that callers queue behind it)."""

    def __init__(self, real, writing: threading.Event, go: threading.Event):
        self.real, self.writing, self.go = real, writing, go

    def insert_many(self, docs, **kwargs):
        if not self.writing.is_set():
            self.writing.set()
            assert self.go.wait(10)
        return self.real.insert_many(docs, **kwargs)


def _grouped(app, name: str, callers: dict[str, list[dict]]) -> dict[str, BaseException | None]:
    """Each caller's insert through the app's group insert ``name``, all of them in one write (after a
    first write that holds the group open). Returns each caller's error (None: written)."""
    gi = getattr(services(app).inserts, name)
    real = gi._collection
    writing, go = threading.Event(), threading.Event()
    gi._collection = lambda: _GatedCollection(real(), writing, go)
    results: dict[str, BaseException | None] = {}

    def call(who: str, docs: list[dict]) -> None:
        try:
            gi.insert(docs)
            results[who] = None
        except BaseException as exc:  # noqa: BLE001  (the caller's own outcome is the point)
            results[who] = exc

    threads = [threading.Thread(target=call, args=("first", [{"_id": ObjectId()}]))]
    threads[0].start()
    assert writing.wait(10)
    for who, docs in callers.items():
        threads.append(threading.Thread(target=call, args=(who, docs)))
        threads[-1].start()
    wait_until(lambda: len(gi.group._waiting) == len(callers), what="every caller queued for one write")
    go.set()
    for thread in threads:
        thread.join(10)
    gi._collection = real
    return results


def test_a_duplicate_in_bs_documents_fails_only_b(app):
    taken = ObjectId()
    Submission._get_collection().insert_one({"_id": taken, "form_id": "b"})
    a_doc = {"_id": ObjectId(), "form_id": "a"}

    results = _grouped(app, "submissions", {"a": [a_doc], "b": [{"_id": ObjectId()}, {"_id": taken}]})

    assert results["a"] is None and results["first"] is None
    assert isinstance(results["b"], BulkWriteError)
    assert [e["index"] for e in results["b"].details["writeErrors"]] == [1]  # b's own second document
    assert Submission._get_collection().find_one({"_id": a_doc["_id"]}) is not None


def test_a_document_the_driver_cannot_encode_fails_only_its_caller(app):
    """Not reachable through the intake today (its JSON parser refuses what BSON cannot hold), but one
    caller's bad document must not fail the other callers' writes in the same group."""
    a_doc = {"_id": ObjectId(), "form_id": "a"}

    results = _grouped(app, "jobs", {"a": [a_doc], "b": [{"_id": ObjectId(), "n": 2**70}]})

    assert results["a"] is None
    assert results["b"] is not None
    assert PluginJob._get_collection().find_one({"_id": a_doc["_id"]}) is not None


def _job(config_id: str, workspace: str = "B") -> dict:
    """A new job document as dispatch builds it (pending, not written yet)."""
    return {
        "_id": ObjectId(),
        "config_id": config_id,
        "workspace_id": workspace,
        "status": "pending",
        "created_at": dispatch.utcnow(),
        "attempts": 0,
    }


def test_hand_off_places_of_jobs_never_written_are_given_back(make_app):
    """A hand-off whose insert failed (or found its jobs written already) leaves no place taken."""
    app = make_app(SCHEDULER_ENABLED=True, POLL_INTERVAL=3600)
    scheduler = services(app).scheduler
    scheduler.wake = lambda: None
    for _ in range(3):
        taken = scheduler.claim_at_insert([_job("b1"), _job("b2")])
        assert len(taken) == 2 and len(scheduler._handing_off) == 2
        scheduler.adopt(taken, set(), {}, 0.0)
        assert scheduler._handing_off == {}


@pytest.mark.parametrize("threads", [2, 4, 8])
def test_a_workspace_is_handed_off_its_share_and_another_still_gets_its_jobs(make_app, threads):
    """A limit, not a leak: workspace A's new jobs of many integrations are handed off up to A's share of
    the process's jobs in flight (WORKSPACE_SHARE of 2 × WORKER_THREADS), the rest left to the claim; B's
    new job is still handed off."""
    app = make_app(SCHEDULER_ENABLED=True, POLL_INTERVAL=3600, WORKER_THREADS=threads)
    scheduler = services(app).scheduler
    scheduler.wake = lambda: None
    a_jobs = scheduler.claim_at_insert([_job(f"a{i}", "A") for i in range(3 * threads)])
    assert len(a_jobs) == share_of(2 * threads, app.config["WORKSPACE_SHARE"])  # of the 2 × threads in flight
    assert scheduler.claim_at_insert([_job("a-late", "A")]) == []
    assert [j["config_id"] for j in scheduler.claim_at_insert([_job("b1")])] == ["b1"]
    scheduler.adopt(a_jobs[:1], set(), {}, 0.0)  # one of A's was not written after all
    assert [j["config_id"] for j in scheduler.claim_at_insert([_job("a-late", "A")])] == ["a-late"]


@pytest.mark.parametrize("cap", [1, 2, 3])
def test_a_fresh_integrations_cap_counts_its_jobs_being_handed_off(make_app, cap):
    """An integration's cap on jobs in flight (twice INTEGRATION_CONCURRENCY: the threads run at most
    INTEGRATION_CONCURRENCY of them) holds for a new integration's first jobs too: those stamped by one
    request and not yet running count against the hand-off of the next request's."""
    app = make_app(SCHEDULER_ENABLED=True, POLL_INTERVAL=3600, INTEGRATION_CONCURRENCY=cap, WORKSPACE_SHARE=1)
    scheduler = services(app).scheduler
    scheduler.wake = lambda: None
    first = scheduler.claim_at_insert([_job("fresh") for _ in range(2 * cap + 2)])
    assert len(first) == 2 * cap
    assert scheduler.claim_at_insert([_job("fresh")]) == []  # the first request's are not adopted yet
    assert len(scheduler.claim_at_insert([_job("other")])) == 1


def test_a_full_cache_drops_its_expired_copies_first(monkeypatch):
    monkeypatch.setattr(subscriptions_module, "MAX_FORMS", 3)
    cache = Subscriptions(seconds=60)
    kept: dict = {}
    for key in ("old 1", "old 2"):
        cache._read(kept, key, lambda: "form")
    kept.update({k: (v[0] - 120, v[1]) for k, v in kept.items()})  # read two minutes ago
    cache._read(kept, "fresh", lambda: "form")
    cache._read(kept, "new", lambda: "form")

    assert sorted(kept) == ["fresh", "new"]


def test_a_chunked_submission_too_large_to_write_in_one_command_carries_its_marker(
    api, app, monkeypatch
):
    """A body sent without Content-Length may be as large as MAX_CONTENT_LENGTH: where a unit that large
    may be split between commands, its submission is written with its marker (the sweep's to finish)."""
    monkeypatch.setattr(write_unit, "COMMAND_BYTES", 4 * 1024 * 1024)  # a MAX_CONTENT_LENGTH unit passes it
    cleared = _cleared_markers(monkeypatch)
    form = api.create_form()
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/x"})
    resp = app.test_client().post(
        f"/api/forms/{form['id']}/submissions",
        data=json.dumps({"data": {"n": "x" * 100_000}}),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},  # (as gunicorn serves a chunked body)
    )

    assert resp.status_code == 202
    assert services(app).markers.flush()
    assert cleared == [resp.get_json()["id"]]  # written with its marker, then cleared


def test_another_workspaces_requests_that_change_no_form_keep_the_cache(make_app, store_uri, db_name):
    """Attack: B posts, without limit, to its own hosted page (a trusted caller is not rate limited), asks
    which submissions a condition would let through, edits its own submission: none changes a form or an
    integration, but each used to empty this process's copies, so every one of A's submissions read its
    form and integrations from the store again."""
    app = make_app(FORM_CACHE_SECONDS=3600)
    api = Api(app.test_client())
    form = api.create_form()
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/x"})
    people = People(app)
    b = people.member("b@example.com", {people.workspace("B"): "owner"})
    b_form = b.api.create_form()
    b_sub = b.api.submit(b_form["id"], {"n": 1})
    assert len(api.submit(form["id"], {"n": 1})["jobs"]) == 1
    other_process = pymongo.MongoClient(store_uri)[db_name]  # A's form changed where this process cannot see
    other_process.forms.update_one({"_id": ObjectId(form["id"])}, {"$set": {"name": "renamed elsewhere"}})

    assert app.test_client().post(f"/f/{b_form['id']}", json={"data": {"n": 2}}).status_code == 202
    assert b.api.post(f"/api/forms/{b_form['id']}/conditions/check", {"conditions": None}).status_code == 200
    assert b.api.patch(f"/api/submissions/{b_sub['id']}", {"data": {"n": 3}}).status_code == 200

    assert services(app).subscriptions.form(form["id"])["name"] != "renamed elsewhere"  # still this process's copy
