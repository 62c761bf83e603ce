"""Rotating a webhook's signing secret: during the grace period every delivery carries both signatures,
so receivers holding either secret accept it (Standard Webhooks); after it, only the new secret verifies."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
import standardwebhooks

from app.models import PluginConfig
from tests.support.sink import Sink
from tests.support.wait import wait_until

OLD = "whsec_" + base64.b64encode(b"o" * 24).decode()
NEW = "whsec_" + base64.b64encode(b"n" * 24).decode()


def verifies(secret: str, req) -> bool:
    try:
        standardwebhooks.Webhook(secret).verify(req.body, req.headers)
    except standardwebhooks.webhooks.WebhookVerificationError:
        return False
    return True


def deliver(api, form_id: str, sink) -> object:
    """Submit once and return what the receiver got."""
    seen = len(sink.requests)
    job_id = api.submit(form_id, {"name": "Ada"})["jobs"][0]
    wait_until(lambda: api.job(job_id)["status"] == "completed", what="delivery")
    return sink.requests[seen]


@pytest.fixture
def rotated(live_api, sink):
    """A webhook signed with OLD whose secret was just replaced by NEW through the API (PATCH)."""
    form = live_api.create_form()
    config = live_api.add_plugin(form["id"], "webhook", {"url": sink.url, "secret": OLD})
    before = deliver(live_api, form["id"], sink)
    assert verifies(OLD, before) and not verifies(NEW, before)
    resp = live_api.patch(f"/api/plugin-configs/{config['id']}", {"config": {"url": sink.url, "secret": NEW}})
    assert resp.status_code == 200, resp.json
    return form, resp.json


def test_during_the_grace_period_both_secrets_verify_every_delivery(live_api, sink, rotated):
    form, config = rotated
    req = deliver(live_api, form["id"], sink)
    assert verifies(OLD, req) and verifies(NEW, req)
    assert len(req.headers["webhook-signature"].split(" ")) == 2
    assert config["config"]["previous_secret"] == "********"  # shown as set, never in clear
    until = datetime.fromisoformat(config["config"]["previous_secret_expires_at"])
    assert timedelta(hours=23, minutes=59) < until - datetime.now(UTC) <= timedelta(hours=24)


def test_after_the_grace_period_only_the_new_secret_verifies(live_api, sink, rotated):
    form, config = rotated
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat(timespec="seconds")
    PluginConfig.objects(id=config["id"]).update(set__config__previous_secret_expires_at=past)  # a day later
    req = deliver(live_api, form["id"], sink)
    assert verifies(NEW, req) and not verifies(OLD, req)
    assert " " not in req.headers["webhook-signature"]


def test_an_unrelated_change_during_the_grace_period_keeps_both_signatures(live_api, sink, rotated):
    form, config = rotated
    path = f"/api/plugin-configs/{config['id']}"
    resp = live_api.patch(path, {"config": {**config["config"], "timeout": 5}})  # the masked config sent back
    assert resp.status_code == 200, resp.json
    assert resp.json["config"]["previous_secret_expires_at"] == config["config"]["previous_secret_expires_at"]
    req = deliver(live_api, form["id"], sink)
    assert verifies(OLD, req) and verifies(NEW, req)


def test_a_grace_of_zero_replaces_a_compromised_secret_at_once(live_api, sink):
    form = live_api.create_form()
    config = live_api.add_plugin(form["id"], "webhook", {"url": sink.url, "secret": OLD})
    patch = {"config": {"url": sink.url, "secret": NEW, "secret_grace_hours": 0}}
    assert (
        live_api.patch(f"/api/plugin-configs/{config['id']}", patch).json["config"]["previous_secret"] is None
    )
    req = deliver(live_api, form["id"], sink)
    assert verifies(NEW, req) and not verifies(OLD, req)


def test_a_previous_secret_cannot_be_set_or_moved_by_a_request(api, sink):
    form = api.create_form()
    made = api.add_plugin(
        form["id"],
        "webhook",
        {
            "url": sink.url,
            "secret": NEW,
            "previous_secret": OLD,
            "previous_secret_expires_at": "2999-01-01T00:00:00",
        },
    )
    assert (
        made["config"]["previous_secret"] is None and made["config"].get("previous_secret_expires_at") is None
    )
    rotated = api.patch(
        f"/api/plugin-configs/{made['id']}", {"config": {"url": sink.url, "secret": OLD}}
    ).json
    assert rotated["config"]["previous_secret"] == "********"
    # a new destination needs the secret again, and the replaced one does not follow it
    moved = {"url": sink.url + "/elsewhere", "secret": OLD}
    assert (
        api.patch(f"/api/plugin-configs/{made['id']}", {"config": moved}).json["config"]["previous_secret"]
        is None
    )


def test_the_configured_grace_period_is_used(api, sink):
    form = api.create_form()
    made = api.add_plugin(form["id"], "webhook", {"url": sink.url, "secret": OLD, "secret_grace_hours": 2})
    patch = {"config": {"url": sink.url, "secret": NEW, "secret_grace_hours": 2}}
    until = datetime.fromisoformat(
        api.patch(f"/api/plugin-configs/{made['id']}", patch).json["config"]["previous_secret_expires_at"]
    )
    assert timedelta(hours=1, minutes=59) < until - datetime.now(UTC) <= timedelta(hours=2)


ATTACKER = "whsec_" + base64.b64encode(b"a" * 24).decode()
FAR = "2999-01-01T00:00:00+00:00"


@pytest.fixture
def elsewhere():
    """A receiver the attacker controls."""
    s = Sink()
    yield s
    s.close()


def _saved_rotation(api, sink) -> dict:
    """A webhook whose secret OLD (which ``sink`` trusts) was just rotated out for NEW."""
    form = api.create_form()
    made = api.add_plugin(form["id"], "webhook", {"url": sink.url, "secret": OLD})
    rotated = api.patch(f"/api/plugin-configs/{made['id']}", {"config": {"url": sink.url, "secret": NEW}})
    assert rotated.json["config"]["previous_secret"] == "********"
    return rotated.json


@pytest.mark.parametrize(
    "forged",
    [
        {"previous_secret_expires_at": FAR},
        {"previous_secret_expires_at": FAR, "previous_secret": "********"},
        {"previous_secret_expires_at": FAR, "previous_secret": OLD},
        {"previous_secret_expires_at": "2100-06-30T12:00:00"},
    ],
)
def test_a_test_of_unsaved_changes_never_signs_for_a_new_url_with_the_rotated_out_secret(
    api, sink, elsewhere, forged
):
    """A signing oracle: the old secret must not sign a test request sent to a URL of the caller's."""
    saved = _saved_rotation(api, sink)
    unsaved = {"url": elsewhere.url, "secret": ATTACKER, **forged}
    assert api.post(f"/api/plugin-configs/{saved['id']}/test", {"config": unsaved}).json["success"] is True
    [req] = elsewhere.requests
    assert verifies(ATTACKER, req) and not verifies(OLD, req) and not verifies(NEW, req)
    assert " " not in req.headers["webhook-signature"]

    # a Test of a new integration takes no rotation state from its input either
    assert api.post("/api/plugins/webhook/test", {"config": unsaved}).json["success"] is True
    last = elsewhere.requests[-1]
    assert (
        verifies(ATTACKER, last) and not verifies(OLD, last) and " " not in last.headers["webhook-signature"]
    )


def test_a_test_of_unsaved_changes_is_signed_as_the_save_would_be(api, sink):
    saved = _saved_rotation(api, sink)
    test = f"/api/plugin-configs/{saved['id']}/test"
    # same URL, secret kept: the rotation in progress signs, exactly as deliveries after a save do
    assert api.post(test, {"config": {"url": sink.url, "timeout": 5}}).json["success"] is True
    assert verifies(OLD, sink.requests[-1]) and verifies(NEW, sink.requests[-1])
    # a grace of 0 ends the rotation on save, so in the test too
    assert api.post(test, {"config": {"url": sink.url, "secret_grace_hours": 0}}).status_code == 200
    assert verifies(NEW, sink.requests[-1]) and not verifies(OLD, sink.requests[-1])
    # an expiry from the input is ignored: once the saved one has passed, only NEW signs
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat(timespec="seconds")
    PluginConfig.objects(id=saved["id"]).update(set__config__previous_secret_expires_at=past)
    assert api.post(test, {"config": {"url": sink.url, "previous_secret_expires_at": FAR}}).status_code == 200
    assert verifies(NEW, sink.requests[-1]) and not verifies(OLD, sink.requests[-1])
    # nothing of the tests was stored
    assert api.get(f"/api/plugin-configs/{saved['id']}").json["config"]["previous_secret_expires_at"] == past
