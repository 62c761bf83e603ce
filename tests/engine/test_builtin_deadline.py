"""A built-in plugin's attempt runs in the job's worker thread (no deadline thread) and still ends at its
deadline: every network wait of a built-in goes through app.contract, cut to the job's deadline.

Each built-in is pointed at a loopback server that accepts connections and never answers, with its own
timeouts (10-30 s) far beyond JOB_TIMEOUT.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from bson import ObjectId

from app.contract.schema import validate
from app.contract.testing import payload
from app.engine.deadline import DeadlineRunner
from app.engine.schemas import config_schema_of
from app.models import LogStatus
from app.services import services
from tests.plugins.peers import airtable, hubspot, slack, twilio

JOB_TIMEOUT = 1.0
LATE = 1.5  # seconds past the deadline an attempt may take at most (a wait started just before it)


class Silent:
    """A TCP server on loopback that accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.held: list[socket.socket] = []
        self.accepted = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)
            self.accepted.set()

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def silent() -> Iterator[Silent]:
    server = Silent()
    yield server
    server.close()


def _configs(url: str, port: int) -> dict[str, dict[str, Any]]:
    return {
        "webhook": {"url": f"{url}/hook", "timeout": 30},
        "email": {
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "from_address": "Forms <forms@example.com>",
            "to": ["owner@example.com"],
        },
        "slack": {"token": slack.TOKEN, "channel": "#forms"},
        "hubspot": {"access_token": hubspot.TOKEN, "email_field": "email", "create_deal": True},
        "airtable": {"token": airtable.TOKEN, "base_id": airtable.BASE, "table": airtable.TABLE},
        "twilio_sms": {
            "account_sid": twilio.ACCOUNT_SID,
            "auth_token": twilio.AUTH_TOKEN,
            "from_number": twilio.NUMBER,
            "to": "{{ data.phone }}",
        },
        "discord": {"webhook_url": f"{url}/api/webhooks/1/t"},
    }


def _app(make_app, silent: Silent):
    url = silent.url
    return make_app(
        JOB_TIMEOUT=JOB_TIMEOUT,
        ALLOW_PRIVATE_DESTINATIONS=True,
        SLACK_API_URL=f"{url}/api/",
        HUBSPOT_API_URL=url,
        AIRTABLE_API_URL=url,
        TWILIO_API_URL=url,
    )


def _attempt(app, plugin_id: str, config: dict[str, Any], deadlines: DeadlineRunner):
    """One attempt of ``plugin_id`` through the one door into plugin code, as a worker makes it."""
    found = services(app)
    plugin = found.plugins.get(plugin_id)
    assert plugin is not None
    stored = found.secrets.seal(config_schema_of(plugin), validate(plugin.config_schema(), config))
    job = {
        "_id": ObjectId(),
        "idempotency_key": "msg_deadline",
        "event": "form.submitted",
        "attempts": 1,
        "max_attempts": 3,
        "payload": payload({"email": "ada@example.com", "phone": "+14155550123", "name": "Ada"}),
    }
    return found.plugin_calls.execute(plugin, job, stored, deadlines)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "plugin_id", ["webhook", "email", "slack", "hubspot", "airtable", "twilio_sms", "discord"]
)
def test_a_builtin_attempt_against_a_destination_that_never_answers_ends_at_its_deadline(
    make_app, silent, plugin_id
):
    app = _app(make_app, silent)
    deadlines = DeadlineRunner(1, 1)  # the scheduler's kind: a plugin thread would be taken from here
    try:
        started = time.monotonic()
        outcome = _attempt(app, plugin_id, _configs(silent.url, silent.port)[plugin_id], deadlines)
        took = time.monotonic() - started
    finally:
        deadlines.shutdown()
    assert silent.accepted.is_set()  # it did connect, and waited for an answer
    assert outcome.status == LogStatus.TIMEOUT, outcome.error
    assert outcome.error is not None and outcome.error.message.startswith("Timed out")
    assert JOB_TIMEOUT * 0.9 <= took <= JOB_TIMEOUT + LATE
    assert deadlines.abandoned == 0  # nothing left running behind the worker


@pytest.mark.parametrize("answer", [200, 500])
def test_a_builtin_attempt_runs_in_the_calling_worker_thread(make_app, sink, monkeypatch, answer):
    from app.contract.testing import Reply
    from plugins.webhook.plugin import WebhookPlugin

    sink.responder = lambda request: Reply(answer, {})
    app = make_app(ALLOW_PRIVATE_DESTINATIONS=True)
    ran_on: list[str] = []
    execute = WebhookPlugin.execute

    def recorded(self, ctx):
        ran_on.append(threading.current_thread().name)
        return execute(self, ctx)

    monkeypatch.setattr(WebhookPlugin, "execute", recorded)
    deadlines = DeadlineRunner(1, 1)
    try:
        outcome = _attempt(app, "webhook", {"url": sink.url}, deadlines)
    finally:
        deadlines.shutdown()
    assert ran_on == [threading.current_thread().name]
    assert outcome.status == (LogStatus.SUCCESS if answer == 200 else LogStatus.FAILED)
