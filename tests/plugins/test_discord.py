"""Discord against a fake webhook API on loopback, through the plugin test kit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.contract.testing import check_plugin, payload, run_plugin
from plugins.discord import DiscordPlugin
from tests.plugins.peers.discord import TOKEN, FakeDiscord
from tests.plugins.peers.http import Reply


@pytest.fixture
def discord() -> Iterator[FakeDiscord]:
    fake = FakeDiscord()
    yield fake
    fake.close()


def test_a_submission_becomes_an_embed_and_mentions_are_never_parsed(discord):
    config = {"webhook_url": discord.webhook_url, "content": "@everyone {{ name }} wrote"}
    attempt = run_plugin(DiscordPlugin, config, payload())

    assert attempt.summary == "Posted message m1 to channel 42"
    [message] = discord.messages
    assert message["content"] == "@everyone Ada wrote"
    assert message["allowed_mentions"] == {"parse": []}  # the text shows, nobody is pinged
    [embed] = message["embeds"]
    assert embed["title"] == "New submission: Contact"
    assert [(f["name"], f["value"]) for f in embed["fields"]] == [
        ("Your name", "Ada"),
        ("E-mail", "ada@example.com"),
        ("Message", "Hi"),
    ]
    assert embed["footer"] == {"text": "Submission sub1"}
    assert attempt.response["x-ratelimit-remaining"] == "4"


def test_long_values_and_many_fields_stay_within_discords_limits(discord):
    data = {f"f{i}": "x" * 3000 for i in range(30)}
    attempt = run_plugin(DiscordPlugin, {"webhook_url": discord.webhook_url}, payload(data))
    assert attempt.ok
    fields = discord.messages[0]["embeds"][0]["fields"]
    assert 0 < len(fields) <= 25 and all(len(f["value"]) <= 1024 for f in fields)
    assert sum(len(f["name"]) + len(f["value"]) for f in fields) <= 6000


def test_a_rate_limited_post_waits_as_long_as_discord_asks(discord):
    discord.remaining = 0
    attempt = run_plugin(DiscordPlugin, {"webhook_url": discord.webhook_url}, payload())
    assert (attempt.error_type, attempt.retry_after) == ("retryable", 2.0)
    assert "Discord is rate limiting this webhook; will retry in 2 s" in attempt.error_message
    assert attempt.response["x-ratelimit-reset-after"] == "1.5"


@pytest.mark.parametrize(
    ("url_of", "reply", "error_type", "expected"),
    [
        (lambda d: d.webhook_url.replace(TOKEN, "reset"), None, "permanent", "Invalid Webhook Token"),
        (lambda d: d.webhook_url.replace("1234567890", "999"), None, "permanent", "Unknown Webhook"),
        (
            lambda d: d.webhook_url,
            Reply(400, {"message": "Invalid Form Body", "code": 50035}),
            "permanent",
            "refused the message",
        ),
        (
            lambda d: d.webhook_url,
            Reply(403, {"message": "Missing Access", "code": 50001}),
            "permanent",
            "Missing Access",
        ),
        (lambda d: d.webhook_url, Reply(502, "bad gateway"), "retryable", "HTTP 502"),
    ],
)
def test_each_answer_is_classified_and_says_what_to_fix(discord, url_of, reply, error_type, expected):
    if reply:
        discord.script(reply)
    attempt = run_plugin(DiscordPlugin, {"webhook_url": url_of(discord)}, payload())
    assert (attempt.status, attempt.error_type) == ("failed", error_type)
    assert expected in attempt.error_message
    if "Webhook" in expected:
        assert attempt.error.disable and "Create a webhook" in attempt.error_message
    assert attempt.request["embed_fields"] == 3


def test_test_connection_reads_the_webhook_and_posts_nothing(discord):
    result = check_plugin(DiscordPlugin, {"webhook_url": discord.webhook_url}, discord.server)
    assert result.message == "The webhook 'Formbot' posts to channel 42. Nothing was posted."
    assert discord.messages == []


def test_test_connection_says_the_webhook_is_gone(discord):
    plugin = DiscordPlugin({"ALLOW_PRIVATE_DESTINATIONS": True})
    result = plugin.test_connection({"webhook_url": discord.webhook_url.replace(TOKEN, "reset")})
    assert not result.success and "Discord says the webhook is gone (Invalid Webhook Token)" in result.message
    assert "disabled" not in result.message  # a test disables nothing, so it does not say it did


def test_the_webhook_token_never_reaches_the_log(discord):
    discord.script(Reply(400, {"message": "Invalid Form Body", "code": 50035}))
    attempts = [run_plugin(DiscordPlugin, {"webhook_url": discord.webhook_url}, payload()) for _ in range(2)]
    assert [a.status for a in attempts] == ["failed", "success"]
    assert [a.leaked for a in attempts] == [[], []]
    assert not [line for a in attempts for line in a.logs if TOKEN in line]
