"""Personal API tokens: shown once, stored hashed, usable as bearer, last-used time, revocable."""

from __future__ import annotations

import time

from app.models.accounts import ApiToken


def test_a_token_is_shown_once_and_stored_only_as_a_hash(api):
    created = api.post("/api/tokens", {"name": "CI"})
    assert created.status_code == 201
    clear = created.json["token"]
    assert clear.startswith("fhp_") and created.json["prefix"] == clear[:10]
    raw = ApiToken._get_collection().find_one({"name": "CI"})
    assert clear not in str(raw)
    listed = api.get("/api/tokens").json["items"]
    assert [t["name"] for t in listed] == ["CI"]
    assert "token" not in listed[0] and clear not in str(listed)


def test_a_token_authenticates_as_its_user_and_records_when_it_was_used(app, api):
    clear = api.post("/api/tokens", {"name": "CI"}).json["token"]
    assert api.get("/api/tokens").json["items"][0]["last_used_at"] is None
    before = time.time()
    me = app.test_client().get("/api/auth/me", headers={"Authorization": f"Bearer {clear}"}).json
    assert me["via"] == "token" and me["workspaces"][0]["role"] == "owner"
    used = ApiToken._get_collection().find_one({"name": "CI"})["last_used_at"]
    assert used >= before - 1


def test_a_revoked_token_is_refused(app, api):
    created = api.post("/api/tokens", {"name": "CI"}).json
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert app.test_client().get("/api/forms", headers=headers).status_code == 200
    assert api.delete(f"/api/tokens/{created['id']}").status_code == 204
    refused = app.test_client().get("/api/forms", headers=headers)
    assert refused.status_code == 401
    assert api.get("/api/tokens").json["items"][0]["revoked"] is True


def test_an_unknown_token_is_401_even_with_a_session(app):
    resp = app.test_client().get("/api/forms", headers={"Authorization": "Bearer fhp_made_up"})
    assert resp.status_code == 401
    assert resp.json["error"]["message"] == "The token is not valid."


def test_nobody_sees_or_revokes_someone_elses_tokens(api, people):
    mine = api.post("/api/tokens", {"name": "Mine"}).json
    other = people.member("o@example.com", {people.workspace(): "owner"})
    assert [t["name"] for t in other.api.get("/api/tokens").json["items"]] == ["tests"]
    assert other.api.delete(f"/api/tokens/{mine['id']}").status_code == 404
    assert api.get("/api/tokens").json["items"][0]["revoked"] is False


def test_a_token_needs_a_name(api):
    resp = api.post("/api/tokens", {})
    assert resp.status_code == 422 and "name" in resp.json["error"]["details"]
