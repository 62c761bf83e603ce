"""The webhook plugin's "Test connection" and its destination guard."""

from __future__ import annotations

import base64

import standardwebhooks

from tests.conftest import Api
from tests.support.sink import Reply
from tests.support.wait import wait_until

SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()


def test_test_before_saving_posts_a_signed_test_event(api, sink):
    resp = api.post("/api/plugins/webhook/test", {"config": {"url": sink.url, "secret": SECRET}}).json
    assert resp["success"] is True
    assert resp["details"]["status_code"] == 200
    assert resp["details"]["latency_ms"] >= 0
    [req] = sink.requests
    assert standardwebhooks.Webhook(SECRET).verify(req.body, req.headers)["event"] == "test"


def test_test_connection_reports_a_non_2xx_answer(api, sink):
    sink.responder = lambda req: Reply(401, b"who are you")
    resp = api.post("/api/plugins/webhook/test", {"config": {"url": sink.url}}).json
    assert resp["success"] is False
    assert "HTTP 401" in resp["message"] and "who are you" in resp["message"]


def test_test_connection_of_a_saved_config_uses_its_secret(api, sink):
    form = api.create_form()
    config = api.add_plugin(form["id"], "webhook", {"url": sink.url, "secret": SECRET})
    assert api.post(f"/api/plugin-configs/{config['id']}/test").json["success"] is True
    standardwebhooks.Webhook(SECRET).verify(sink.requests[0].body, sink.requests[0].headers)


def test_private_destinations_are_refused_unless_allowed(make_app, sink):
    app = make_app(ALLOW_PRIVATE_DESTINATIONS=False, SCHEDULER_ENABLED=True)
    api = Api(app.test_client())
    tested = api.post("/api/plugins/webhook/test", {"config": {"url": sink.url}}).json
    assert tested["success"] is False
    assert "private or loopback" in tested["message"]
    form = api.create_form()
    api.add_plugin(form["id"], "webhook", {"url": sink.url.replace("127.0.0.1", "localhost")})
    job_id = api.submit(form["id"], {"a": 1})["jobs"][0]
    job = wait_until(lambda: (j := api.job(job_id))["status"] == "failed" and j, what="job failed")
    assert job["attempts"] == 1  # permanent: not retried
    assert "ALLOW_PRIVATE_DESTINATIONS" in job["last_error"]
    assert sink.requests == []
