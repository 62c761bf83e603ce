"""Logging in with email and password: the session cookie, CSRF on session writes, rate limits."""

from __future__ import annotations

import time

import pytest

from app import auth
from app.models.accounts import LoginSession, User
from tests.admin_api.conftest import PASSWORD, csrf_headers, login
from tests.conftest import ui_login


def test_login_sets_a_httponly_lax_session_that_authenticates_the_api(app, people):
    ws = people.workspace("Team")
    people.member("ann@example.com", {ws: "editor"})
    client = app.test_client()
    resp = login(client, "Ann@Example.com ")
    assert resp.status_code == 200
    assert resp.json["user"]["email"] == "ann@example.com"
    assert [w["role"] for w in resp.json["workspaces"]] == ["editor"]
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert client.get("/api/forms").status_code == 200


def test_the_session_cookie_is_secure_over_https(app, people):
    people.member("ann@example.com", {people.workspace(): "viewer"})
    resp = app.test_client().post(
        "/api/auth/login",
        json={"email": "ann@example.com", "password": PASSWORD},
        base_url="https://localhost",
    )
    assert resp.status_code == 200
    assert "Secure" in resp.headers["Set-Cookie"]


def test_a_wrong_password_or_unknown_email_is_the_same_401(app, people):
    people.member("ann@example.com", {people.workspace(): "viewer"})
    client = app.test_client()
    wrong = login(client, "ann@example.com", "not the password")
    unknown = login(client, "nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json
    assert client.get("/api/forms").status_code == 401


def test_session_writes_need_the_csrf_token_and_bearer_writes_do_not(app, api, people):
    ws = people.workspace("Team")
    people.member("ann@example.com", {ws: "editor"})
    client = app.test_client()
    login(client, "ann@example.com")
    refused = client.post("/api/forms", json={"name": "No token", "workspace_id": ws})
    assert refused.status_code == 400
    assert "CSRF" in refused.json["error"]["message"]
    assert client.get("/api/forms").json["items"] == []  # nothing was created
    ok = client.post(
        "/api/forms", json={"name": "With token", "workspace_id": ws}, headers=csrf_headers(client)
    )
    assert ok.status_code == 201
    assert api.post("/api/forms", {"name": "Bearer"}).status_code == 201


def test_logout_ends_the_session(app, people):
    people.member("ann@example.com", {people.workspace(): "viewer"})
    client = app.test_client()
    login(client, "ann@example.com")
    assert client.post("/api/auth/logout", headers=csrf_headers(client)).status_code == 204
    assert client.get("/api/auth/me").status_code == 401


def test_a_password_change_ends_other_sessions(app, people):
    member = people.member("ann@example.com", {people.workspace(): "viewer"})
    client = app.test_client()
    login(client, "ann@example.com")
    auth.set_password(User.objects(id=member.user.id).first(), "a new long password")
    assert client.get("/api/auth/me").status_code == 401
    assert login(client, "ann@example.com", "a new long password").status_code == 200


def test_a_deactivated_user_cannot_log_in_or_use_tokens(app, people):
    member = people.member("ann@example.com", {people.workspace(): "viewer"})
    User.objects(id=member.user.id).update_one(set__active=False)
    assert login(app.test_client(), "ann@example.com").status_code == 401
    assert member.api.get("/api/forms").status_code == 401


def test_login_attempts_are_rate_limited(make_app, people):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    codes = [login(client, "ann@example.com", "guess").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    limited = login(client, "ann@example.com", "guess")
    assert limited.json["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0


@pytest.mark.parametrize("successes", [3, 20])
def test_successful_logins_do_not_count_against_the_login_limit(make_app, people, successes):
    """An office behind one address signs in all day; only wrong passwords use up the budget."""
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    people.member("ann@example.com", {people.workspace(): "viewer"})
    client = app.test_client()
    assert [login(client, "ann@example.com").status_code for _ in range(successes)] == [200] * successes
    assert [login(client, "ann@example.com", "guess").status_code for _ in range(3)] == [401] * 3
    assert login(client, "ann@example.com").status_code == 429  # spent by failures: even the right one waits


def test_successful_ui_logins_do_not_count_against_the_login_limit(make_app):
    app = make_app(LOGIN_RATE_LIMIT="2 per minute")
    codes = [ui_login(app).get("/admin/").status_code for _ in range(5)]
    assert codes == [200] * 5


def test_login_needs_json_with_email_and_password(app):
    client = app.test_client()
    assert client.post("/api/auth/login", data={"email": "a", "password": "b"}).status_code == 400
    resp = client.post("/api/auth/login", json={"email": "a@example.com"})
    assert resp.status_code == 422
    assert "password" in resp.json["error"]["details"]


def test_the_first_owner_logs_in_with_the_configured_password_and_is_the_admin_token(make_app):
    app = make_app(ADMIN_EMAIL="Boss@Example.com", ADMIN_PASSWORD="bootstrap password")
    client = app.test_client()
    assert login(client, "boss@example.com", "bootstrap password").status_code == 200
    me = client.get("/api/auth/me").json
    admin = app.test_client().get("/api/auth/me", headers={"Authorization": "Bearer test-admin-token"}).json
    assert me["user"]["id"] == admin["user"]["id"]
    assert admin["via"] == "admin_token"
    assert [w["name"] for w in admin["workspaces"]] == ["Default"]


def test_changing_your_password_keeps_this_session_and_ends_the_others(app, people):
    people.member("ann@example.com", {people.workspace(): "viewer"})
    this, other = app.test_client(), app.test_client()
    login(this, "ann@example.com")
    login(other, "ann@example.com")
    wrong = this.post(
        "/api/auth/password",
        json={"current_password": "nope", "new_password": "a brand new password"},
        headers=csrf_headers(this),
    )
    assert wrong.status_code == 422 and "current_password" in wrong.json["error"]["details"]
    changed = this.post(
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": "a brand new password"},
        headers=csrf_headers(this),
    )
    assert changed.status_code == 204
    assert this.get("/api/auth/me").status_code == 200
    assert other.get("/api/auth/me").status_code == 401
    assert login(app.test_client(), "ann@example.com", "a brand new password").status_code == 200


def _replay(app, cookie: str):
    """A fresh client presenting a session cookie saved earlier (as an attacker who copied it would)."""
    client = app.test_client()
    client.set_cookie("session", cookie)
    return client


def test_a_cookie_saved_before_logout_no_longer_works(app, people):
    people.member("ann@example.com", {people.workspace(): "viewer"})
    client = app.test_client()
    login(client, "ann@example.com")
    saved = client.get_cookie("session").value
    assert _replay(app, saved).get("/api/auth/me").status_code == 200
    assert client.post("/api/auth/logout", headers=csrf_headers(client)).status_code == 204
    assert _replay(app, saved).get("/api/auth/me").status_code == 401
    assert _replay(app, saved).get("/admin/forms").status_code == 302  # to the login page


def test_a_cookie_saved_before_logging_out_of_the_admin_ui_no_longer_works(app, people):
    people.member("ann@example.com", {people.workspace(): "viewer"})
    client = app.test_client()
    login(client, "ann@example.com")
    saved = client.get_cookie("session").value
    page = client.get("/admin/forms").get_data(as_text=True)
    token = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    assert _replay(app, saved).get("/api/auth/me").status_code == 401


def test_a_session_idle_longer_than_the_limit_ends(make_app, people):
    app = make_app(SESSION_IDLE_TIMEOUT=600)
    people.member("ann@example.com", {people.workspace(): "viewer"})
    client = app.test_client()
    login(client, "ann@example.com")
    assert client.get("/api/auth/me").status_code == 200
    LoginSession.objects.update(set__last_seen=time.time() - 601)  # as if ten minutes had passed
    assert client.get("/api/auth/me").status_code == 401
    assert login(client, "ann@example.com").status_code == 200  # logging in again works


def test_a_session_in_use_outlives_the_idle_limit(make_app, people):
    app = make_app(SESSION_IDLE_TIMEOUT=600)
    people.member("ann@example.com", {people.workspace(): "viewer"})
    client = app.test_client()
    login(client, "ann@example.com")
    LoginSession.objects.update(set__last_seen=time.time() - 500)
    assert client.get("/api/auth/me").status_code == 200  # used now: the idle clock starts again
    assert LoginSession.objects.first().last_seen > time.time() - 60


@pytest.mark.parametrize("revoke", [True, False])
def test_changing_a_password_revokes_the_api_tokens_when_asked(app, people, revoke):
    member = people.member("ann@example.com", {people.workspace(): "viewer"})
    client = app.test_client()
    login(client, "ann@example.com")
    body = {"current_password": PASSWORD, "new_password": "a new long password", "revoke_tokens": revoke}
    assert client.post("/api/auth/password", json=body, headers=csrf_headers(client)).status_code == 204
    assert client.get("/api/auth/me").status_code == 200  # this session goes on
    assert member.api.get("/api/auth/me").status_code == (401 if revoke else 200)


def test_the_login_limit_holds_across_workers_on_the_embedded_store(make_app, people):
    """Two apps on one database stand for two gunicorn workers: their failed logins count together."""
    first, second = make_app(LOGIN_RATE_LIMIT="3 per minute"), make_app(LOGIN_RATE_LIMIT="3 per minute")
    people.member("ann@example.com", {people.workspace(): "viewer"})
    a, b = first.test_client(), second.test_client()
    codes = [login(c, "ann@example.com", "wrong password").status_code for c in (a, b, a)]
    assert codes == [401, 401, 401]
    assert login(b, "ann@example.com").status_code == 429
    assert login(a, "ann@example.com").status_code == 429


def test_a_password_hashed_under_an_earlier_method_still_logs_in_after_the_method_changes(make_app):
    first = make_app(PASSWORD_HASH_METHOD="pbkdf2:sha256:1000")
    with first.app_context():
        auth.create_user("ann@example.com", PASSWORD)
        assert User.objects.get(email="ann@example.com").password_hash.startswith("pbkdf2:sha256:1000$")
    later = make_app(PASSWORD_HASH_METHOD="scrypt:1024:8:1")
    client = later.test_client()
    assert login(client, "ann@example.com").status_code == 200
    with later.app_context():
        auth.create_user("bob@example.com", PASSWORD)
        assert User.objects.get(email="bob@example.com").password_hash.startswith("scrypt:1024:8:1$")
    assert login(later.test_client(), "bob@example.com").status_code == 200


def test_an_unknown_password_hash_method_stops_the_start_with_its_name(make_app):
    with pytest.raises(RuntimeError, match="PASSWORD_HASH_METHOD 'md5'"):
        make_app(PASSWORD_HASH_METHOD="md5")


def test_a_login_rehashes_a_password_of_an_earlier_method_with_the_configured_one(make_app):
    """An unknown email is checked against a dummy hash of the configured method: a user whose hash kept an
    earlier method's cost would stand out (by time) until it is rehashed, which a successful login does."""
    first = make_app(PASSWORD_HASH_METHOD="pbkdf2:sha256:1000")
    with first.app_context():
        auth.create_user("ann@example.com", PASSWORD)
        version = User.objects.get(email="ann@example.com").auth_version
    later = make_app(PASSWORD_HASH_METHOD="scrypt:1024:8:1")
    client = later.test_client()
    assert login(client, "ann@example.com", "wrong password").status_code == 401
    assert User.objects.get(email="ann@example.com").password_hash.startswith("pbkdf2:sha256:1000$")
    assert login(client, "ann@example.com").status_code == 200
    user = User.objects.get(email="ann@example.com")
    assert user.password_hash.startswith("scrypt:1024:8:1$")
    assert user.auth_version == version  # not a password change: the user's other sessions go on
    assert client.get("/api/auth/me").status_code == 200
    assert login(later.test_client(), "ann@example.com").status_code == 200
    assert User.objects.get(email="ann@example.com").password_hash == user.password_hash  # once only
