"""Slack against a fake Slack Web API and incoming webhook served over HTTP on loopback."""

from __future__ import annotations

import pytest

from app.contract import PluginError
from plugins.slack import SlackPlugin
from tests.plugins.conftest import SETTINGS, finished_job, payload, run_plugin
from tests.plugins.peers.http import Reply
from tests.plugins.peers.slack import TOKEN, FakeSlack


def plugin_for(slack: FakeSlack) -> SlackPlugin:
    return SlackPlugin({**SETTINGS, "SLACK_API_URL": slack.api_url})


def bot(channel: str = "#forms", **extra) -> dict:
    return {"token": TOKEN, "channel": channel, **extra}


def test_bot_posts_a_header_and_the_fields_as_blocks_with_a_text_fallback(slack):
    data = {"name": "Ada <!channel>", "email": "ada@example.com", "message": "Hi & bye"}
    result = run_plugin(plugin_for(slack), bot(), payload(data))

    [post] = slack.posts
    assert post["channel"] == "C0000001"
    header, section, context = post["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "New submission: Contact", "emoji": True},
    }
    assert [f["text"] for f in section["fields"]] == [
        "*Your name*\nAda &lt;!channel&gt;",  # submitted text cannot ping the channel
        "*E-mail*\nada@example.com",
        "*Message*\nHi &amp; bye",
    ]
    assert context["elements"][0]["text"] == "Submission `sub1`"
    assert post["text"].startswith("*New submission: Contact*\n*Your name*: Ada &lt;!channel&gt;\n")
    assert result.summary == "Posted to #forms"
    assert result.response["ts"] == post["ts"]


def test_a_custom_text_without_blocks_is_posted_as_is(slack):
    run_plugin(
        plugin_for(slack), bot(text="<!here> {{ name }} wrote: {{ message }}", blocks=False), payload()
    )
    assert slack.posts == [
        {"channel": "C0000001", "ts": slack.posts[0]["ts"], "text": "<!here> Ada wrote: Hi", "blocks": None}
    ]


def test_many_fields_are_split_into_sections_of_ten(slack):
    data = {f"f{i}": str(i) for i in range(23)}
    run_plugin(plugin_for(slack), bot(), payload(data))
    sections = [b for b in slack.posts[0]["blocks"] if b["type"] == "section"]
    assert [len(s["fields"]) for s in sections] == [10, 10, 6]  # 3 form fields (empty) + 23 submitted


def test_rate_limited_is_retryable_after_the_given_delay(slack):
    slack.script(
        "/api/chat.postMessage", Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})
    )
    with pytest.raises(PluginError) as err:
        run_plugin(plugin_for(slack), bot(), payload())
    assert not err.value.permanent
    assert err.value.retry_after == 7
    assert slack.posts == []


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (bot("#nope"), "Slack cannot find the channel #nope"),
        (bot("#general"), "The app is not a member of #general. Invite it there (/invite @your-app)"),
        (bot("#old"), "The channel #old is archived"),
        ({"token": "xoxb-revoked", "channel": "#forms"}, "Slack rejected the token (invalid_auth)"),
    ],
)
def test_what_the_owner_must_fix_is_permanent_and_said(slack, config, expected):
    with pytest.raises(PluginError) as err:
        run_plugin(plugin_for(slack), config, payload())
    assert err.value.permanent
    assert expected in err.value.message
    assert slack.posts == []


def test_slack_server_errors_are_retryable(slack):
    slack.script("/api/chat.postMessage", Reply(503, {"ok": False, "error": "service_unavailable"}))
    with pytest.raises(PluginError) as err:
        run_plugin(plugin_for(slack), bot(), payload())
    assert not err.value.permanent


def test_webhook_posts_the_message(slack):
    result = run_plugin(plugin_for(slack), {"webhook_url": slack.hook_url}, payload())
    [post] = slack.posts
    assert post["blocks"][0]["text"]["text"] == "New submission: Contact"
    assert result.summary == "Posted through the incoming webhook"


def test_a_dead_webhook_disables_the_integration(slack):
    with pytest.raises(PluginError) as err:
        run_plugin(plugin_for(slack), {"webhook_url": slack.server.url + "/services/T1/B1/gone"}, payload())
    assert err.value.disable and err.value.permanent
    assert "no longer exists (no_service)" in err.value.message


def test_webhook_test_connection_posts_nothing_visible(slack):
    plugin = plugin_for(slack)
    result = plugin.test_connection(plugin.config_schema().load({"webhook_url": slack.hook_url}))
    assert result.success, result.message
    assert "Nothing was posted" in result.message
    assert slack.posts == []
    [req] = slack.server.requests
    assert (req.method, req.path, req.json()) == ("POST", "/services/T1/B1/live", {"text": ""})


def test_webhook_test_connection_reports_a_dead_hook(slack):
    plugin = plugin_for(slack)
    config = plugin.config_schema().load({"webhook_url": slack.server.url + "/services/T1/B1/gone"})
    result = plugin.test_connection(config)
    assert not result.success
    assert "no longer exists" in result.message
    assert "disabled" not in result.message  # a test disables nothing, so it does not say it did


def test_bot_test_connection_reports_team_bot_and_channel_and_posts_nothing(slack):
    plugin = plugin_for(slack)
    result = plugin.test_connection(plugin.config_schema().load(bot("#forms")))
    assert result.success, result.message
    assert result.message == "Authenticated as formbot in Acme. It can post to #forms. Nothing was posted."
    assert result.details["team"] == "Acme" and result.details["channel_id"] == "C0000001"
    assert slack.posts == []


@pytest.mark.parametrize(
    ("channel", "scopes", "ok", "says"),
    [
        ("C0000001", "chat:write,channels:read", True, "It can post to #forms"),
        ("#general", "chat:write,channels:read", False, "not a member of #general. Invite it"),
        ("#general", "chat:write,chat:write.public,channels:read", True, "It can post to #general"),
        ("#nope", "chat:write,channels:read", False, "Slack cannot find the channel #nope"),
        ("#old", "chat:write,channels:read", False, "#old is archived"),
    ],
)
def test_bot_test_connection_checks_the_channel(slack, channel, scopes, ok, says):
    slack.scopes = scopes
    plugin = plugin_for(slack)
    result = plugin.test_connection(plugin.config_schema().load(bot(channel)))
    assert (result.success, says in result.message) == (ok, True), result.message


def test_bot_test_connection_reports_a_bad_token(slack):
    plugin = plugin_for(slack)
    result = plugin.test_connection(plugin.config_schema().load({"token": "xoxb-nope", "channel": "#forms"}))
    assert not result.success
    assert "Slack rejected the token (invalid_auth)" in result.message


def test_429_then_success_through_the_engine(slack, live_api_with):
    api = live_api_with(SLACK_API_URL=slack.api_url)
    form = api.create_form("Contact", [{"name": "email"}])
    api.add_plugin(form["id"], "slack", bot())
    slack.script(
        "/api/chat.postMessage", Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
    )

    accepted = api.submit(form["id"], {"email": "ada@example.com"})

    job = finished_job(api, accepted["jobs"][0])
    assert job["status"] == "completed"
    assert [(log["status"], log["error_type"]) for log in job["logs"]] == [
        ("failed", "retryable"),
        ("success", None),
    ]
    assert "rate limiting" in job["logs"][0]["error_message"]
    assert len(slack.posts) == 1


def test_posts_to_one_channel_are_spaced_by_the_rate_limit_not_failed(slack, live_api_with):
    api = live_api_with(SLACK_API_URL=slack.api_url)
    form = api.create_form("Contact", [{"name": "email"}])
    api.add_plugin(form["id"], "slack", bot())

    job_ids = [api.submit(form["id"], {"email": f"u{i}@example.com"})["jobs"][0] for i in range(3)]

    jobs = [finished_job(api, job_id) for job_id in job_ids]
    assert [j["status"] for j in jobs] == ["completed"] * 3
    assert [len(j["logs"]) for j in jobs] == [1, 1, 1]  # deferred, never failed
    assert [j["attempts"] for j in jobs] == [1, 1, 1]
    posts = [r for r in slack.server.requests if r.path == "/api/chat.postMessage"]
    times = [r.received_at for r in posts]
    assert len(posts) == 3
    assert times[2] - times[0] >= 1.0  # three posts span at least two one-second windows
