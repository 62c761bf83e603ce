"""Accepting an invitation when the store does not answer: a 503 (never a 500), and the link still works
afterwards; the password is hashed once, and that hash is not the store's time."""

from __future__ import annotations

import time

import pytest
from mongoengine.errors import OperationError
from pymongo.errors import ExecutionTimeout, NetworkTimeout
from werkzeug.security import generate_password_hash

from app.auth import accounts, invitations
from app.models.accounts import Membership, User
from tests.admin_api.conftest import PASSWORD
from tests.conftest import Api

CHOSEN = "my own password"


def _deadline_error() -> OperationError:
    """mongoengine's wrapping of a spent deadline (it raises OperationError while handling pymongo's)."""
    try:
        try:
            raise ExecutionTimeout("operation would exceed time limit", 50)
        except ExecutionTimeout as exc:
            raise OperationError(f"Could not save document ({exc})")  # noqa: B904  (as mongoengine does)
    except OperationError as wrapped:
        return wrapped


def _link(api: Api, ws: str, email: str) -> str:
    resp = api.post(f"/api/workspaces/{ws}/invitations", {"email": email, "role": "editor"})
    assert resp.status_code == 201, resp.json
    return resp.json["link"].rsplit("/", 1)[1]


def _member(app, ws: str, email: str) -> bool:
    with app.app_context():
        user = User.objects(email=email).first()
        return user is not None and Membership.objects(workspace_id=ws, user_id=str(user.id)).count() == 1


def _after(original, error):
    def call(*args, **kwargs):
        original(*args, **kwargs)
        raise error

    return call


def _instead(error):
    def call(*args, **kwargs):
        raise error

    return call


FAILURES = {
    "account not created": ("create_user", lambda orig: _instead(_deadline_error())),
    "account created, answer lost": ("create_user", lambda orig: _after(orig, NetworkTimeout("timed out"))),
    "link spent, answer lost": ("_claim", lambda orig: _after(orig, NetworkTimeout("timed out"))),
    "membership not added": ("set_member", lambda orig: _instead(_deadline_error())),
}


@pytest.mark.parametrize("where", FAILURES)
def test_an_accept_the_store_did_not_answer_is_a_503_and_the_link_still_works(
    app, api, people, monkeypatch, where
):
    ws = people.default_workspace()
    token = _link(api, ws, "new@example.com")
    name, failing = FAILURES[where]
    module = invitations if name == "_claim" else accounts
    monkeypatch.setattr(module, name, failing(getattr(module, name)))

    failed = app.test_client().post(f"/api/invitations/{token}/accept", json={"password": CHOSEN})
    assert failed.status_code == 503, failed.json
    assert failed.json["error"]["code"] == "store_timeout" and failed.headers["Retry-After"]
    monkeypatch.undo()

    again = app.test_client().post(f"/api/invitations/{token}/accept", json={"password": CHOSEN})
    assert again.status_code == 200, again.json
    assert _member(app, ws, "new@example.com")
    used = app.test_client().post(f"/api/invitations/{token}/accept", json={"password": CHOSEN})
    assert used.status_code == 404  # and then it is spent


def test_an_existing_account_keeps_the_link_when_joining_fails(app, api, people, monkeypatch):
    ws = people.default_workspace()
    people.member("known@example.com", {people.workspace("Elsewhere"): "viewer"})
    token = _link(api, ws, "known@example.com")
    monkeypatch.setattr(accounts, "set_member", _instead(_deadline_error()))
    failed = app.test_client().post(f"/api/invitations/{token}/accept", json={"password": PASSWORD})
    assert failed.status_code == 503
    monkeypatch.undo()
    again = app.test_client().post(f"/api/invitations/{token}/accept", json={"password": PASSWORD})
    assert again.status_code == 200 and _member(app, ws, "known@example.com")


def test_a_new_account_hashes_its_password_once(app, api, people, monkeypatch):
    token = _link(api, people.default_workspace(), "once@example.com")
    hashed = []

    def counting(password, method="scrypt", salt_length=16):
        hashed.append(password)
        return generate_password_hash(password, method, salt_length)

    monkeypatch.setattr(accounts, "generate_password_hash", counting)
    resp = app.test_client().post(f"/api/invitations/{token}/accept", json={"password": CHOSEN})
    assert resp.status_code == 200 and hashed == [CHOSEN]


def _method_taking(seconds: float) -> str:
    """A pbkdf2 spec whose hash takes about ``seconds`` here."""
    probe = 20_000
    started = time.perf_counter()
    generate_password_hash("x", f"pbkdf2:sha256:{probe}")
    per_round = (time.perf_counter() - started) / probe
    return f"pbkdf2:sha256:{max(probe, int(seconds / per_round))}"


def test_the_password_hash_does_not_spend_the_store_deadline(make_app, people_for):
    timeout = 0.8
    app = make_app(DB_TIMEOUT_MS=int(timeout * 1000), PASSWORD_HASH_METHOD=_method_taking(timeout * 1.3))
    api, ws = people_for(app)
    token = _link(api, ws, "slowhash@example.com")
    resp = app.test_client().post(f"/api/invitations/{token}/accept", json={"password": CHOSEN})
    assert resp.status_code == 200, resp.json
    assert _member(app, ws, "slowhash@example.com")


@pytest.fixture
def people_for():
    from tests.admin_api.conftest import People  # noqa: PLC0415

    def make(app):
        with app.app_context():
            return Api(app.test_client()), People(app).default_workspace()

    return make
