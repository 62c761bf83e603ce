"""Microsoft Teams against a fake Workflows webhook on loopback, through the plugin test kit."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from app.contract.testing import check_plugin, payload, run_plugin
from plugins.teams import TeamsPlugin
from tests.plugins.peers.http import Reply
from tests.plugins.peers.teams import SIG, FakeTeams


@pytest.fixture
def teams() -> Iterator[FakeTeams]:
    fake = FakeTeams()
    yield fake
    fake.close()


def test_a_submission_becomes_an_adaptive_card_with_the_fields_as_facts(teams):
    attempt = run_plugin(TeamsPlugin, {"webhook_url": teams.webhook_url}, payload())

    assert attempt.status == "success"
    assert attempt.summary == "Posted a card through 127.0.0.1"
    [card] = teams.cards
    title, facts, footer = card["body"]
    assert title["text"] == "New submission: Contact"
    assert facts["facts"] == [
        {"title": "Your name", "value": "Ada"},
        {"title": "E-mail", "value": "ada@example.com"},
        {"title": "Message", "value": "Hi"},
    ]
    assert footer["text"] == "Submission sub1"


def test_templates_and_a_field_selection_shape_the_card(teams):
    config = {
        "webhook_url": teams.webhook_url,
        "title": "{{ name }} wrote",
        "text": "Reply to **{{ email }}**",
        "fields": [{"field": "message", "label": "Said"}],
    }
    run_plugin(TeamsPlugin, config, payload())
    assert [b.get("text") or b.get("facts") for b in teams.cards[0]["body"]] == [
        "Ada wrote",
        "Reply to **ada@example.com**",
        [{"title": "Said", "value": "Hi"}],
        "Submission sub1",
    ]


@pytest.mark.parametrize(
    ("reply", "error_type", "expected"),
    [
        (Reply(400, {"error": {"code": "InvalidRequestContent"}}), "permanent", "Teams refused the card"),
        (Reply(401, {"error": {}}), "permanent", "copy the URL again from the channel's workflow"),
        (Reply(404, {"error": {}}), "permanent", "Create a new one and paste its URL."),
        (Reply(413, ""), "permanent", "Select fewer fields"),
        (
            Reply(429, "", {"Retry-After": "9"}),
            "retryable",
            "Teams is throttling this webhook; will retry in 9 s",
        ),
        (Reply(503, "down"), "retryable", "HTTP 503"),
        (
            Reply(
                200,
                "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429",
            ),
            "retryable",
            "Teams did not deliver the card",
        ),
    ],
)
def test_each_answer_is_classified_and_says_what_to_fix(teams, reply, error_type, expected):
    teams.script(reply)
    attempt = run_plugin(TeamsPlugin, {"webhook_url": teams.webhook_url}, payload())
    assert (attempt.status, attempt.error_type) == ("failed", error_type)
    assert expected in attempt.error_message
    assert attempt.request["title"] == "New submission: Contact"  # what was sent, for the log
    if reply.status == 404:
        assert attempt.error.disable
    if reply.status == 429:
        assert attempt.retry_after == 9


def test_test_connection_keeps_the_contract_and_posts_nothing(teams):
    result = check_plugin(TeamsPlugin, {"webhook_url": teams.webhook_url}, teams.server)
    assert "nothing was posted" in result.message
    assert teams.cards == []


def test_test_connection_says_when_the_webhook_is_gone(teams):
    plugin = TeamsPlugin({"ALLOW_PRIVATE_DESTINATIONS": True})
    result = plugin.test_connection(
        {"webhook_url": teams.server.url + "/workflows/gone/triggers/manual/paths/invoke"}
    )
    assert not result.success and "does not exist (HTTP 404)" in result.message


def test_the_webhook_url_never_reaches_the_log(teams, caplog):
    caplog.set_level(logging.DEBUG, logger="urllib3")  # other SDKs (hubspot-api-client) quiet it
    teams.script(Reply(401, {"error": {}}))
    attempts = [run_plugin(TeamsPlugin, {"webhook_url": teams.webhook_url}, payload()) for _ in range(2)]
    assert [a.leaked for a in attempts] == [[], []]
    assert all(a.logs for a in attempts)  # urllib3 logs each request line ...
    assert not [line for a in attempts for line in a.logs if SIG in line]  # ... scrubbed of the signature
