"""Bad input gets its status and a JSON error, and leaves the database exactly as it was."""

from __future__ import annotations

import json

import pytest
from bson import json_util

from app.db import database
from app.services import services

MISSING = "5f0000000000000000000000"


def snapshot() -> str:
    db = database()
    return json_util.dumps(
        {
            name: sorted(db[name].find(), key=lambda d: str(d["_id"]))
            for name in sorted(db.list_collection_names())
        }
    )


@pytest.fixture
def world(api):
    form = api.create_form(
        "Contact", [{"name": "email", "type": "email", "required": True}, {"name": "age", "type": "number"}]
    )
    config = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/x", "secret": "s3cret"})
    sub = api.submit(form["id"], {"email": "a@example.com"})
    services(api.client.application).markers.flush()  # dispatch bookkeeping, in the background
    return {"form": form["id"], "config": config["id"], "sub": sub["id"], "job": sub["jobs"][0]}


CASES = [
    # (method, path template, body or raw, headers, expected status)
    ("get", "/api/forms", None, {"Authorization": ""}, 401),
    ("get", "/api/forms", None, {"Authorization": "Bearer wrong"}, 401),
    ("post", "/api/forms/{form}/plugins", None, {"Authorization": "Basic abc"}, 401),
    ("post", "/api/forms", b"{not json", {}, 400),
    ("post", "/api/forms", b"[1, 2]", {}, 400),
    ("post", "/api/forms", {"name": ""}, {}, 422),
    ("post", "/api/forms", {"name": "x", "fields": [{"name": "a b"}]}, {}, 422),
    ("post", "/api/forms", {"name": "x", "fields": [{"name": "a"}, {"name": "a"}]}, {}, 422),
    ("post", "/api/forms", {"name": "x", "colour": "red"}, {}, 422),
    ("patch", "/api/forms/{form}", {"fields": "nope"}, {}, 422),
    ("get", "/api/forms/" + MISSING, None, {}, 404),
    ("get", "/api/forms/not-an-id", None, {}, 404),
    ("delete", "/api/forms/" + MISSING, None, {}, 404),
    ("post", "/api/forms/{form}/submissions", {"data": {}}, {}, 422),
    ("post", "/api/forms/{form}/submissions", {"data": {"email": "not-an-email"}}, {}, 422),
    ("post", "/api/forms/{form}/submissions", {"data": {"email": "a@b.co", "age": "old"}}, {}, 422),
    ("post", "/api/forms/{form}/submissions", {"data": {"email": "a@b.co", "unknown": 1}}, {}, 422),
    ("post", "/api/forms/{form}/submissions", {"nodata": 1}, {}, 422),
    ("post", "/api/forms/{form}/submissions", b"{", {}, 400),
    ("post", "/api/forms/" + MISSING + "/submissions", {"data": {}}, {}, 404),
    (
        "post",
        "/api/forms/{form}/submissions",
        {"data": {"email": "a@b.co", "big": "x" * (1024 * 1024)}},
        {},
        413,
    ),
    ("patch", "/api/submissions/{sub}", {"data": {"email": "bad"}}, {}, 422),
    ("patch", "/api/submissions/" + MISSING, {"data": {}}, {}, 404),
    ("delete", "/api/submissions/" + MISSING, None, {}, 404),
    ("post", "/api/forms/{form}/plugins", {"plugin_id": "nope", "config": {}}, {}, 422),
    ("post", "/api/forms/{form}/plugins", {"plugin_id": "webhook", "config": {}}, {}, 422),
    ("post", "/api/forms/{form}/plugins", {"plugin_id": "webhook", "config": {"url": "ftp://x"}}, {}, 422),
    (
        "post",
        "/api/forms/{form}/plugins",
        {"plugin_id": "webhook", "config": {"url": "http://a.b", "method": "GET"}},
        {},
        422,
    ),
    (
        "post",
        "/api/forms/{form}/plugins",
        {"plugin_id": "webhook", "config": {"url": "http://a.b", "secret": "whsec_!!"}},
        {},
        422,
    ),
    (
        "post",
        "/api/forms/{form}/plugins",
        {"plugin_id": "webhook", "config": {"url": "http://a.b", "headers": {"webhook-id": "x"}}},
        {},
        422,
    ),
    (
        "post",
        "/api/forms/{form}/plugins",
        {"plugin_id": "webhook", "config": {"url": "http://a.b"}, "trigger_events": ["nope"]},
        {},
        422,
    ),
    (
        "post",
        "/api/forms/{form}/plugins",
        {"plugin_id": "webhook", "config": {"url": "http://a.b"}, "trigger_events": []},
        {},
        422,
    ),
    ("post", "/api/forms/{form}/plugins", {"plugin_id": "webhook", "config": "text"}, {}, 422),
    (
        "post",
        "/api/forms/" + MISSING + "/plugins",
        {"plugin_id": "webhook", "config": {"url": "http://a.b"}},
        {},
        404,
    ),
    ("patch", "/api/plugin-configs/{config}", {"config": {"url": "nope"}}, {}, 422),
    ("patch", "/api/plugin-configs/{config}", {"plugin_id": "other"}, {}, 422),
    ("patch", "/api/plugin-configs/" + MISSING, {"name": "x"}, {}, 404),
    ("delete", "/api/plugin-configs/" + MISSING, None, {}, 404),
    ("get", "/api/plugins/nope", None, {}, 404),
    ("post", "/api/plugins/nope/test", {"config": {}}, {}, 404),
    ("post", "/api/plugins/webhook/test", {"config": {"url": "bad"}}, {}, 422),
    ("post", "/api/plugins/webhook/test", {}, {}, 422),
    ("post", "/api/plugin-configs/" + MISSING + "/test", None, {}, 404),
    ("get", "/api/jobs/" + MISSING, None, {}, 404),
    ("get", "/api/jobs", None, {}, 400, {"status": "nope"}),
    ("get", "/api/jobs", None, {}, 400, {"form_id": "zzz"}),
    ("get", "/api/jobs", None, {}, 400, {"page": "two"}),
    ("post", "/api/jobs/{job}/retry", None, {}, 409),
    ("post", "/api/jobs/" + MISSING + "/retry", None, {}, 404),
    ("post", "/api/jobs/" + MISSING + "/cancel", None, {}, 404),
    ("get", "/api/logs", None, {}, 400, {"status": "nope"}),
    ("put", "/api/forms/{form}", {"name": "x"}, {}, 405),
    ("get", "/api/nowhere", None, {}, 404),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]} {c[1]} {c[4]}")
def test_bad_input_gets_status_and_changes_nothing(api, world, case):
    method, path, body, headers, status, *query = case
    before = snapshot()
    kwargs = {"headers": {**api.headers, **headers}, "query_string": query[0] if query else None}
    if isinstance(body, bytes):
        kwargs.update(data=body, content_type="application/json")
    elif body is not None:
        kwargs["json"] = body
    resp = getattr(api.client, method)(path.format(**world), **kwargs)

    assert resp.status_code == status, resp.get_data(as_text=True)
    error = json.loads(resp.get_data())["error"]
    assert error["code"] and error["message"]
    assert "Traceback" not in resp.get_data(as_text=True)
    assert snapshot() == before


def test_validation_errors_name_the_field(api, world):
    resp = api.post(
        f"/api/forms/{world['form']}/plugins", {"plugin_id": "webhook", "config": {"method": "GET"}}
    )
    details = resp.json["error"]["details"]["config"]
    assert "url" in details and "method" in details


def test_secret_is_masked_and_kept_when_patch_omits_it(api, world):
    config = api.get(f"/api/plugin-configs/{world['config']}").json
    assert config["config"]["secret"] == "********"
    assert "s3cret" not in json.dumps(api.get(f"/api/forms/{world['form']}/plugins").json)
    patched = api.patch(
        f"/api/plugin-configs/{world['config']}", {"config": {"url": "http://127.0.0.1:9/x", "timeout": 5}}
    ).json
    assert patched["config"]["secret"] == "********" and patched["config"]["timeout"] == 5
    raw = database().plugin_configs.find_one()
    assert "s3cret" not in json.dumps(raw, default=str)

    with api.client.application.app_context():
        assert services().secrets.decrypt(raw["config"]["secret"]) == "s3cret"


def test_store_down_is_503_json(make_app):
    app = make_app(MONGODB_URI="mongodb://127.0.0.1:9/", DB_TIMEOUT_MS=300)
    client = app.test_client()
    resp = client.get("/api/forms", headers={"Authorization": "Bearer test-admin-token"})
    assert resp.status_code == 503
    assert resp.json["error"]["code"] == "store_unavailable"
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json["checks"]["database"] == "unreachable"
