"""Every store error that means "the store did not answer" is a 503 with the JSON error shape (a page for
browsers), never a 500, wherever it is raised; a 503 of the intake says whether the submission was stored."""

from __future__ import annotations

import pymongo
import pytest
from pymongo.collection import Collection
from pymongo.errors import (
    BulkWriteError,
    ClientBulkWriteException,
    ExecutionTimeout,
    NetworkTimeout,
    ServerSelectionTimeoutError,
)

from app.api import idempotency
from app.models import Submission, search_terms
from app.services import services
from app.store.embedded import free_port
from tests.support.wait import wait_until


def _client_bulk(error: BaseException) -> ClientBulkWriteException:
    details = {"error": error, "writeErrors": [], "writeConcernErrors": [], "nInserted": 0}
    return ClientBulkWriteException(details, verbose=False)


def _failing_bulk_write(monkeypatch, error: BaseException, write_first: bool) -> None:
    """The group commit's client-level bulkWrite fails once with ``error``, after writing when
    ``write_first`` (the store wrote it, its answer was lost)."""
    original = pymongo.MongoClient.bulk_write
    calls = []

    def bulk_write(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            return original(self, *args, **kwargs)
        if write_first:
            original(self, *args, **kwargs)
        raise error

    monkeypatch.setattr(pymongo.MongoClient, "bulk_write", bulk_write)


@pytest.fixture
def hooked(api):
    """A form with an integration: its submissions are written with their jobs in one client bulkWrite."""
    form = api.create_form("Hooked")
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/hook"})
    return form


def _count(app, form_id: str) -> int:
    with app.app_context():
        return Submission.objects(form_id=form_id).count()


@pytest.mark.parametrize(
    ("error", "code", "stored"),
    [
        (_client_bulk(NetworkTimeout("127.0.0.1:1: timed out")), "store_timeout", "maybe"),
        (_client_bulk(ExecutionTimeout("operation exceeded time limit", 50)), "store_timeout", "maybe"),
        (_client_bulk(ServerSelectionTimeoutError("No servers found")), "store_unavailable", "no"),
    ],
    ids=["network-timeout", "execution-timeout", "server-selection"],
)
def test_a_group_commit_that_the_store_did_not_answer_is_a_503_saying_what_was_stored(
    app, api, hooked, monkeypatch, error, code, stored
):
    _failing_bulk_write(monkeypatch, error, write_first=False)
    resp = api.post(f"/api/forms/{hooked['id']}/submissions", {"data": {"n": 1}})
    assert resp.status_code == 503, resp.json
    assert resp.json["error"]["code"] == code and resp.json["error"]["details"]["stored"] == stored
    assert resp.headers["Retry-After"]
    if stored == "maybe":
        assert "Idempotency-Key" in resp.json["error"]["message"]
    assert _count(app, hooked["id"]) == 0
    wait_until(lambda: not services(app).store_health.down, what="the store's circuit closed")


def test_a_submission_whose_write_answer_was_lost_is_stored_once_by_a_retry_with_its_key(
    app, api, hooked, monkeypatch
):
    _failing_bulk_write(monkeypatch, _client_bulk(NetworkTimeout("timed out")), write_first=True)
    key = {"Idempotency-Key": "lost-answer-1"}
    first = api.post(f"/api/forms/{hooked['id']}/submissions", {"data": {"n": 1}}, headers=key)
    assert (first.status_code, first.json["error"]["details"]["stored"]) == (503, "maybe")
    assert _count(app, hooked["id"]) == 1  # it was stored: "maybe" was right to say so
    assert (
        api.post(f"/api/forms/{hooked['id']}/submissions", {"data": {"n": 1}}, headers=key).status_code == 409
    )
    monkeypatch.setattr(idempotency, "ABANDONED_AFTER", 0.0)
    retry = api.post(f"/api/forms/{hooked['id']}/submissions", {"data": {"n": 1}}, headers=key)
    assert retry.status_code == 202 and retry.json["id"] == first.json["error"]["details"]["id"]
    assert _count(app, hooked["id"]) == 1


def test_a_submission_surely_not_stored_can_be_sent_again_at_once_with_its_key(app, api, hooked, monkeypatch):
    _failing_bulk_write(monkeypatch, _client_bulk(ServerSelectionTimeoutError("gone")), write_first=False)
    key = {"Idempotency-Key": "not-stored-1"}
    first = api.post(f"/api/forms/{hooked['id']}/submissions", {"data": {"n": 1}}, headers=key)
    assert (first.status_code, first.json["error"]["details"]["stored"]) == (503, "no")
    wait_until(lambda: not services(app).store_health.down, what="the store's circuit closed")
    retry = api.post(f"/api/forms/{hooked['id']}/submissions", {"data": {"n": 1}}, headers=key)
    assert retry.status_code == 202
    assert _count(app, hooked["id"]) == 1


@pytest.mark.parametrize("code", [50, 262])
def test_an_insert_refused_for_time_is_a_503_not_stored(app, api, monkeypatch, code):
    form = api.create_form("Plain")  # no integration and no search postings: the submission alone, with insert_many
    monkeypatch.setattr(search_terms, "postings", lambda sub: [])

    def insert_many(self, docs, **kwargs):
        error = {"index": 0, "code": code, "errmsg": "operation exceeded time limit"}
        raise BulkWriteError({"writeErrors": [error], "writeConcernErrors": [], "nInserted": 0})

    monkeypatch.setattr(Collection, "insert_many", insert_many)
    resp = api.post(f"/api/forms/{form['id']}/submissions", {"data": {"n": 1}})
    monkeypatch.undo()
    assert resp.status_code == 503, resp.json
    assert (resp.json["error"]["code"], resp.json["error"]["details"]["stored"]) == ("store_timeout", "no")


def test_a_failure_after_the_submission_was_stored_says_so(app, api, hooked, monkeypatch):
    def finish(claim, response):
        raise NetworkTimeout("timed out")

    monkeypatch.setattr(idempotency, "finish", finish)
    resp = api.post(
        f"/api/forms/{hooked['id']}/submissions", {"data": {"n": 1}}, headers={"Idempotency-Key": "k"}
    )
    assert resp.status_code == 503
    assert (
        resp.json["error"]["details"]["stored"] == "yes"
        and "Do not send it again" in resp.json["error"]["message"]
    )
    assert _count(app, hooked["id"]) == 1


@pytest.mark.parametrize(
    ("error", "stored", "says"),
    [
        (_client_bulk(NetworkTimeout("timed out")), "maybe", "may have been received"),
        (_client_bulk(ServerSelectionTimeoutError("gone")), "no", "did not receive your answer"),
    ],
)
def test_the_hosted_form_answers_a_503_with_a_page(app, api, hooked, monkeypatch, error, stored, says):
    _failing_bulk_write(monkeypatch, error, write_first=False)
    resp = app.test_client().post(f"/f/{hooked['id']}", data={"n": "1"}, headers={"Accept": "text/html"})
    assert resp.status_code == 503 and resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert says in page and f'href="/f/{hooked["id"]}"' in page


def test_the_hosted_pages_answer_a_known_outage_with_pages(make_app):
    app = make_app(MONGODB_URI=f"mongodb://127.0.0.1:{free_port()}/", DB_TIMEOUT_MS=300)
    client = app.test_client()
    form_id = "a" * 24
    client.get(f"/f/{form_id}")  # finds the store gone: the circuit opens
    wait_until(lambda: services(app).store_health.down, what="the circuit open")
    shown = client.get(f"/f/{form_id}")
    posted = client.post(f"/f/{form_id}", data={"n": "1"}, headers={"Accept": "text/html"})
    by_api = client.post(f"/f/{form_id}", data={"n": "1"}, headers={"Accept": "application/json"})
    assert (shown.status_code, shown.mimetype) == (503, "text/html")
    assert "cannot show this form" in shown.get_data(as_text=True)
    assert (posted.status_code, posted.mimetype) == (503, "text/html")
    assert "did not receive your answer" in posted.get_data(as_text=True)
    assert (by_api.status_code, by_api.json["error"]["code"]) == (503, "store_unavailable")
