"""A submission reaches its webhooks: body, headers, signature, routing by event."""

from __future__ import annotations

import base64

import standardwebhooks

from tests.support.sink import Reply
from tests.support.wait import wait_until

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def test_submission_is_delivered_with_documented_body_and_headers(live_api, sink):
    form = live_api.create_form("Contact", [{"name": "email", "type": "email", "required": True}])
    live_api.add_plugin(form["id"], "webhook", {"url": sink.url + "/hook", "secret": SECRET})

    accepted = live_api.submit(form["id"], {"email": "ada@example.com"})

    [req] = sink.wait_for(1)
    body = req.json()
    assert body["event"] == "form.submitted"
    assert body["form_id"] == form["id"]
    assert body["submission_id"] == accepted["id"]
    assert body["data"] == {"email": "ada@example.com"}
    assert body["occurred_at"].endswith("Z")
    assert req.headers["content-type"] == "application/json"
    assert req.headers["user-agent"].startswith("Formhooks")
    job = live_api.job(accepted["jobs"][0])
    assert req.headers["webhook-id"] == job["idempotency_key"]
    # Verified with the reference Standard Webhooks implementation, not our own code.
    verified = standardwebhooks.Webhook(SECRET).verify(req.body, req.headers)
    assert verified["submission_id"] == accepted["id"]


def test_signature_with_plain_string_secret_verifies(live_api, sink):
    form = live_api.create_form()
    live_api.add_plugin(form["id"], "webhook", {"url": sink.url, "secret": "not-a-whsec-secret"})
    live_api.submit(form["id"], {"x": 1})
    [req] = sink.wait_for(1)
    key = "whsec_" + base64.b64encode(b"not-a-whsec-secret").decode()
    standardwebhooks.Webhook(key).verify(req.body, req.headers)


def test_unsigned_when_no_secret(live_api, sink):
    form = live_api.create_form()
    live_api.add_plugin(form["id"], "webhook", {"url": sink.url})
    live_api.submit(form["id"], {"x": 1})
    [req] = sink.wait_for(1)
    assert "webhook-signature" not in req.headers
    assert req.headers["webhook-id"].startswith("msg_")


def test_custom_headers_method_and_bearer_token_are_sent(live_api, sink):
    form = live_api.create_form()
    config = live_api.add_plugin(
        form["id"],
        "webhook",
        {"url": sink.url, "method": "PUT", "headers": {"X-Team": "growth"}, "auth_token": "tok-123"},
    )
    assert config["config"]["auth_token"] == "********"
    live_api.submit(form["id"], {"x": 1})
    [req] = sink.wait_for(1)
    assert req.method == "PUT"
    assert req.headers["x-team"] == "growth"
    assert req.headers["authorization"] == "Bearer tok-123"
    job_id = live_api.get("/api/jobs", query_string={"form_id": form["id"]}).json["items"][0]["id"]
    job = wait_until(lambda: (j := live_api.job(job_id))["status"] == "completed" and j, what="job done")
    logged = job["logs"][0]["request"]["headers"]
    assert logged["Authorization"] == "[redacted]"


def test_basic_auth_is_sent(live_api, sink):
    form = live_api.create_form()
    live_api.add_plugin(
        form["id"], "webhook", {"url": sink.url, "basic_username": "ada", "basic_password": "pw"}
    )
    live_api.submit(form["id"], {"x": 1})
    [req] = sink.wait_for(1)
    assert req.headers["authorization"] == "Basic " + base64.b64encode(b"ada:pw").decode()


def test_credentials_in_plain_headers_are_refused(api):
    form = api.create_form()
    resp = api.post(
        f"/api/forms/{form['id']}/plugins",
        {"plugin_id": "webhook", "config": {"url": "http://a.b", "headers": {"Authorization": "Bearer x"}}},
    )
    assert resp.status_code == 422
    assert "stored encrypted" in str(resp.json["error"]["details"])


def test_each_event_reaches_only_subscribed_configs(live_api, sink):
    form = live_api.create_form()
    for event in ("form.submitted", "response.edited", "response.deleted", "form.updated"):
        live_api.add_plugin(form["id"], "webhook", {"url": f"{sink.url}/{event}"}, trigger_events=[event])
    live_api.add_plugin(
        form["id"],
        "webhook",
        {"url": f"{sink.url}/disabled"},
        enabled=False,
        trigger_events=["form.submitted", "response.edited", "response.deleted", "form.updated"],
    )

    sub = live_api.submit(form["id"], {"n": 1})
    sink.wait_for(1)
    assert live_api.patch(f"/api/submissions/{sub['id']}", {"data": {"n": 2}}).status_code == 200
    sink.wait_for(2)
    assert live_api.delete(f"/api/submissions/{sub['id']}").status_code == 200
    sink.wait_for(3)
    assert live_api.patch(f"/api/forms/{form['id']}", {"name": "Renamed"}).status_code == 200
    reqs = sink.wait_for(4)

    paths = sorted(r.path for r in reqs)
    assert paths == ["/form.submitted", "/form.updated", "/response.deleted", "/response.edited"]
    by_path = {r.path: r.json() for r in reqs}
    assert by_path["/response.edited"]["data"] == {"n": 2}
    assert by_path["/response.deleted"]["event"] == "response.deleted"
    assert by_path["/form.updated"]["form"]["name"] == "Renamed"
    # The disabled config got no job at all.
    jobs = live_api.get("/api/jobs", query_string={"form_id": form["id"]}).json["items"]
    assert len(jobs) == 4


def test_two_webhooks_on_one_form_both_deliver(live_api, sink):
    form = live_api.create_form()
    live_api.add_plugin(form["id"], "webhook", {"url": sink.url + "/a"})
    live_api.add_plugin(form["id"], "webhook", {"url": sink.url + "/b"})
    accepted = live_api.submit(form["id"], {"x": 1})
    assert len(accepted["jobs"]) == 2
    reqs = sink.wait_for(2)
    assert sorted(r.path for r in reqs) == ["/a", "/b"]
    assert len({r.headers["webhook-id"] for r in reqs}) == 2


def test_retry_sends_the_snapshot_not_the_edited_record(live_api, sink):
    calls = []

    def responder(req):
        calls.append(req)
        return Reply(500) if len(calls) == 1 else Reply(200)

    sink.responder = responder
    form = live_api.create_form()
    live_api.add_plugin(form["id"], "webhook", {"url": sink.url}, trigger_events=["form.submitted"])
    sub = live_api.submit(form["id"], {"v": "original"})
    live_api.patch(f"/api/submissions/{sub['id']}", {"data": {"v": "edited"}})
    reqs = sink.wait_for(2)
    assert [r.json()["data"]["v"] for r in reqs] == ["original", "original"]
    assert reqs[0].headers["webhook-id"] == reqs[1].headers["webhook-id"]
    wait_until(lambda: live_api.job(sub["jobs"][0])["status"] == "completed", what="job completed")
