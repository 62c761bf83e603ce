"""Idempotency-Key on the public intake."""

from __future__ import annotations

import pymongo
from pymongo.errors import NetworkTimeout

from app.api import idempotency
from app.models import PluginJob, Submission
from app.services import services
from tests.support.wait import wait_until


def _post(api, form_id, data, key):
    return api.post(f"/api/forms/{form_id}/submissions", {"data": data}, headers={"Idempotency-Key": key})


def test_same_key_twice_creates_one_submission_and_returns_the_first_response(api):
    form = api.create_form()
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/"})
    first = _post(api, form["id"], {"n": 1}, "order-42")
    again = _post(api, form["id"], {"n": 1}, "order-42")
    assert first.status_code == again.status_code == 202
    assert again.json == first.json
    assert Submission.objects(form_id=form["id"]).count() == 1
    assert PluginJob.objects(form_id=form["id"]).count() == 1


def test_same_key_with_a_different_body_is_422_and_creates_nothing(api):
    form = api.create_form()
    _post(api, form["id"], {"n": 1}, "k1")
    resp = _post(api, form["id"], {"n": 2}, "k1")
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "idempotency_key_reused"
    assert Submission.objects(form_id=form["id"]).count() == 1


def test_keys_are_per_form_and_distinct_keys_create_distinct_submissions(api):
    one, two = api.create_form("one"), api.create_form("two")
    assert _post(api, one["id"], {"n": 1}, "k").json["id"] != _post(api, two["id"], {"n": 1}, "k").json["id"]
    assert (
        _post(api, one["id"], {"n": 1}, "k2").json["id"] != _post(api, one["id"], {"n": 1}, "k3").json["id"]
    )
    assert Submission.objects.count() == 4


def test_a_retry_after_an_answer_lost_on_its_way_back_finishes_the_first_request(api, monkeypatch):
    """The store wrote the submission and its jobs, but its answer was lost (a timeout): the client got an
    error and retries with the same key. The retry must not create a second submission: it waits for the
    first request (409) and then, once that one counts as dead, answers with its submission and jobs."""
    form = api.create_form()
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/"})
    real_bulk_write = pymongo.MongoClient.bulk_write

    def written_then_lost(client, models, **kwargs):
        real_bulk_write(client, models, **kwargs)
        raise NetworkTimeout("the answer was lost")

    monkeypatch.setattr(pymongo.MongoClient, "bulk_write", written_then_lost)
    assert _post(api, form["id"], {"n": 1}, "order-7").status_code == 503
    monkeypatch.setattr(pymongo.MongoClient, "bulk_write", real_bulk_write)
    wait_until(lambda: not services(api.client.application).store_health.down, what="the store back")

    assert _post(api, form["id"], {"n": 1}, "order-7").status_code == 409  # the first may still be at work
    monkeypatch.setattr(idempotency, "ABANDONED_AFTER", 0.0)
    retried = _post(api, form["id"], {"n": 1}, "order-7")

    assert retried.status_code == 202, retried.json
    assert Submission.objects(form_id=form["id"]).count() == 1
    assert [str(job.id) for job in PluginJob.objects(form_id=form["id"])] == retried.json["jobs"]
