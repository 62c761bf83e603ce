"""The scheduler's copies of configs (engine.subscriptions.configs_by_id): only healthy ones are kept, a
change made through the process applies to the next claimed job, another process's within the time."""

from __future__ import annotations

import time

import pymongo
import pytest
from bson import ObjectId

from app.engine.scheduler import Scheduler
from app.engine.subscriptions import Subscriptions
from tests.conftest import Api
from tests.support.sink import Reply
from tests.support.wait import wait_until


class Store:
    """Config documents by id, counting the reads."""

    def __init__(self, **docs: dict):
        self.docs = {cid: {"_id": cid, "enabled": True, **doc} for cid, doc in docs.items()}
        self.reads: list[list[str]] = []

    def read(self, ids: list[str]) -> list[dict]:
        self.reads.append(sorted(ids))
        return [self.docs[i] for i in ids if i in self.docs]


def test_healthy_configs_are_read_once_and_the_others_every_time():
    store = Store(
        ok={},
        failing={"circuit": {"state": "closed", "failures": 2}},
        open={"circuit": {"state": "open", "next_trial_at": 0}},
        off={"enabled": False},
    )
    cache = Subscriptions(seconds=60)
    ids = ["ok", "failing", "open", "off", "deleted"]

    first = cache.configs_by_id(ids, store.read)
    second = cache.configs_by_id(ids, store.read)

    assert sorted(first) == sorted(second) == ["failing", "off", "ok", "open"]  # a deleted one is absent
    assert store.reads == [sorted(ids), ["deleted", "failing", "off", "open"]]


def test_forget_and_age_send_the_next_claim_to_the_store():
    store = Store(ok={})
    cache = Subscriptions(seconds=60)
    cache.configs_by_id(["ok"], store.read)
    cache.forget()
    cache.configs_by_id(["ok"], store.read)
    Subscriptions(seconds=0).configs_by_id(["ok"], store.read)

    assert len(store.reads) == 3


def test_a_read_that_overlaps_a_change_is_not_kept():
    store = Store(ok={})
    cache = Subscriptions(seconds=60)

    def read_while_a_write_lands(ids: list[str]) -> list[dict]:
        cache.forget()  # an admin write finished while this read was on its way
        return store.read(ids)

    cache.configs_by_id(["ok"], read_while_a_write_lands)
    cache.configs_by_id(["ok"], store.read)

    assert len(store.reads) == 2


def _pending_jobs(make_app, url: str, count: int) -> tuple[Api, dict, dict]:
    """A form with one webhook and ``count`` submissions, written by a process that runs no jobs."""
    api = Api(make_app().test_client())
    form = api.create_form()
    config = api.add_plugin(form["id"], "webhook", {"url": url})
    for n in range(count):
        api.submit(form["id"], {"n": n})
    return api, form, config


def test_a_url_changed_through_the_process_applies_to_the_next_claimed_job(make_app, sink):
    writer, form, config = _pending_jobs(make_app, sink.url + "/old", 1)
    live = make_app(SCHEDULER_ENABLED=True, FORM_CACHE_SECONDS=3600)  # copies would otherwise live an hour
    assert [r.path for r in sink.wait_for(1)] == ["/old"]

    api = Api(live.test_client())
    assert (
        api.patch(f"/api/plugin-configs/{config['id']}", {"config": {"url": sink.url + "/new"}}).status_code
        == 200
    )
    writer.submit(form["id"], {"n": 1})  # created elsewhere: this process claims it

    assert [r.path for r in sink.wait_for(2)] == ["/old", "/new"]


def test_another_process_disabling_an_integration_stops_its_jobs_within_the_time(
    make_app, sink, store_uri, db_name
):
    writer = Api(make_app(FORM_CACHE_SECONDS=3600).test_client())  # keeps creating the integration's jobs
    form = writer.create_form()
    config = writer.add_plugin(form["id"], "webhook", {"url": sink.url})
    make_app(SCHEDULER_ENABLED=True, FORM_CACHE_SECONDS=0.5)
    first = writer.submit(form["id"], {"n": 0})["jobs"][0]
    wait_until(lambda: writer.job(first)["status"] == "completed", timeout=10, what="the first delivery")

    pymongo.MongoClient(store_uri)[db_name].plugin_configs.update_one(
        {"_id": ObjectId(config["id"])}, {"$set": {"enabled": False}}
    )

    def next_job_is_cancelled() -> bool:
        [job_id] = writer.submit(form["id"], {"n": 1})["jobs"]
        wait_until(
            lambda: writer.job(job_id)["status"] in ("completed", "cancelled"), timeout=10, what="its end"
        )
        return writer.job(job_id)["status"] == "cancelled"

    wait_until(
        next_job_is_cancelled, timeout=10, what="a job of the disabled integration cancelled, not sent"
    )


def _run_claimed(scheduler: Scheduler) -> None:
    """Claim due jobs and run each batch on this thread, as the worker pool would, until none is left."""
    while jobs := scheduler.queue.claim(50):
        configs = scheduler.runner.load_configs(jobs)
        for job in jobs:
            scheduler.runner.run(job, configs.get(job["config_id"]))
        scheduler.writer.flush()


@pytest.mark.parametrize("jobs", [2, 5])
def test_an_integration_re_enabled_after_a_410_delivers_every_job_of_the_process_that_disabled_it(
    make_app, sink, jobs
):
    sink.responder = lambda req: Reply(410 if req.path == "/gone" else 200)
    app = make_app(FORM_CACHE_SECONDS=3600)
    api = Api(app.test_client())
    form = api.create_form()
    config = api.add_plugin(form["id"], "webhook", {"url": sink.url + "/gone"})
    scheduler = Scheduler(app)  # not started: its runner, driven on this thread
    api.submit(form["id"], {"n": 0})
    _run_claimed(scheduler)
    assert api.get(f"/api/plugin-configs/{config['id']}").json["enabled"] is False

    re_enabled = api.patch(
        f"/api/plugin-configs/{config['id']}", {"enabled": True, "config": {"url": sink.url + "/ok"}}
    )
    assert re_enabled.status_code == 200
    ids = [api.submit(form["id"], {"n": n})["jobs"][0] for n in range(1, jobs + 1)]
    _run_claimed(scheduler)

    assert [api.job(i)["status"] for i in ids] == ["completed"] * jobs
    assert [r.path for r in sink.requests].count("/ok") == jobs


@pytest.mark.parametrize(
    ("reply", "first", "after"),
    # disabled: the batch's other jobs end unsent; circuit opened: they wait, their attempts not spent
    [(410, "failed", "cancelled"), (500, "pending", "pending")],
)
def test_the_rest_of_a_batch_sees_what_its_first_job_did_to_the_integration(
    make_app, sink, reply, first, after
):
    sink.responder = lambda req: Reply(reply)
    app = make_app(FORM_CACHE_SECONDS=3600, CIRCUIT_FAILURE_THRESHOLD=1, CIRCUIT_COOLDOWN=60)
    api = Api(app.test_client())
    form = api.create_form()
    api.add_plugin(form["id"], "webhook", {"url": sink.url})
    ids = [api.submit(form["id"], {"n": n})["jobs"][0] for n in range(3)]
    scheduler = Scheduler(app)
    jobs = scheduler.queue.claim(50)
    configs = scheduler.runner.load_configs(jobs)  # one copy for the batch, read before any job ran
    for job in jobs:
        scheduler.runner.run(job, configs[job["config_id"]])
    scheduler.writer.flush()

    assert len(jobs) == 3 and len(sink.requests) == 1
    assert sorted(api.job(i)["status"] for i in ids) == sorted([first, after, after])


def test_a_copy_read_before_a_change_of_this_process_is_stale():
    cache = Subscriptions(seconds=60)
    before = time.monotonic()
    cache.changed("a")
    after = time.monotonic()
    assert cache.stale("a", before) and not cache.stale("a", after) and not cache.stale("b", before)
    cache.forget()
    assert cache.stale("b", after)


def test_a_read_that_overlaps_a_change_of_one_config_keeps_only_the_others():
    store = Store(a={}, b={})
    cache = Subscriptions(seconds=60)

    def read_while_a_changes(ids: list[str]) -> list[dict]:
        cache.changed("a")  # a circuit write of this process landed while this read was on its way
        return store.read(ids)

    cache.configs_by_id(["a", "b"], read_while_a_changes)
    cache.configs_by_id(["a", "b"], store.read)

    assert store.reads == [["a", "b"], ["a"]]
