"""Secrets are scrubbed from what is recorded in their encoded forms too: a destination that echoes the
Authorization header (Basic base64 of user:password, a bearer token) or a URL-encoded secret back into its
answer leaves nothing a viewer could decode from the execution log or a Test connection result."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from app.secret_scrub import MASK, encoded_forms, scrub
from tests.support.sink import Reply
from tests.support.wait import wait_until

PASSWORD = "p@ss/w0rd:ü&more"
TOKEN = "tok_LIVE+/9ZyX=="


def echo(req) -> Reply:
    """Answers with the request's headers and path, as some debugging endpoints do."""
    return Reply(200, json.dumps({"headers": req.headers, "path": req.path}).encode())


def _variants(secret: str) -> list[str]:
    raw = secret.encode()
    return [
        base64.b64encode(b"ada:" + secret.encode("latin-1")).decode(),
        secret,
        quote(secret, safe=""),
        quote(secret, safe="").lower(),
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode(),
        base64.b64encode(b"ada:" + raw).decode(),
        base64.b64encode(b"ada:" + raw).decode().rstrip("="),
    ]


def _delivered(live_api, sink, config: dict) -> str:
    form = live_api.create_form()
    live_api.add_plugin(form["id"], "webhook", {"url": sink.url, **config})
    job_id = live_api.submit(form["id"], {"name": "Ada"})["jobs"][0]
    job = wait_until(lambda: (j := live_api.job(job_id))["status"] == "completed" and j, what="delivery")
    return json.dumps([job, live_api.get("/api/logs").json])


def test_an_echoed_basic_authorization_header_is_scrubbed_from_the_execution_log(live_api, sink):
    sink.responder = echo
    recorded = _delivered(live_api, sink, {"basic_username": "ada", "basic_password": PASSWORD})
    sent = sink.requests[0].headers["authorization"]
    assert sent == "Basic " + base64.b64encode(b"ada:" + PASSWORD.encode("latin-1")).decode()  # sent ...
    assert sent.split()[1] not in recorded and PASSWORD not in recorded  # ... and is not recorded
    assert "Basic [secret]" in recorded


def test_an_echoed_bearer_token_and_its_url_encoding_are_scrubbed(live_api, sink):
    sink.responder = lambda req: Reply(
        200,
        json.dumps({"auth": req.headers["authorization"], "next": f"/cb?t={quote(TOKEN, safe='')}"}).encode(),
    )
    recorded = _delivered(live_api, sink, {"auth_token": TOKEN})
    assert sink.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert not any(v in recorded for v in (TOKEN, quote(TOKEN, safe=""), quote(TOKEN, safe="").lower()))


def test_a_test_connection_answer_that_echoes_credentials_is_scrubbed(api, sink):
    sink.responder = lambda req: Reply(500, json.dumps(req.headers).encode())
    config = {"url": sink.url, "basic_username": "ada", "basic_password": PASSWORD}
    result = api.post("/api/plugins/webhook/test", {"config": config}).json
    assert result["success"] is False and "HTTP 500" in result["message"]
    text = json.dumps(result)
    assert not any(v in text for v in _variants(PASSWORD))


@pytest.mark.parametrize("variant", _variants(PASSWORD), ids=range(len(_variants(PASSWORD))))
def test_every_encoded_form_is_scrubbed_wherever_it_sits_in_the_text(variant):
    hidden = sorted(encoded_forms(PASSWORD), key=len, reverse=True)
    for text in (variant, f"Authorization: Basic {variant}", f'{{"k": "{variant}"}}', f"x={variant}&y=1"):
        scrubbed = scrub(text, hidden)
        assert variant not in scrubbed and MASK in scrubbed, text


def test_ordinary_text_and_other_base64_are_left_alone():
    hidden = sorted(encoded_forms(PASSWORD), key=len, reverse=True)
    text = "Delivered to https://example.com/hook in 12 ms; etag aGVsbG8gd29ybGQ= id 65f000000000000000000001"
    assert scrub(text, hidden) == text


@pytest.mark.parametrize("before", [b"", b"u", b"us", b"user:", b"a-longer-user-name:"])
@pytest.mark.parametrize("after", [b"", b"!", b"&x=1"])
def test_base64_holding_a_secret_is_found_at_any_alignment(before, after):
    hidden = sorted(encoded_forms(PASSWORD), key=len, reverse=True)
    for raw in (PASSWORD.encode(), PASSWORD.encode("latin-1")):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(before + raw + after).decode()
            assert scrub(f"seen: {text}.", hidden) == f"seen: {MASK}.", text
