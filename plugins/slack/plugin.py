"""Slack: post each event to a channel, through an incoming webhook or a bot token."""

from __future__ import annotations

from typing import Any

from app.contract import ExecutionContext, ExecutionResult, Plugin, PluginError, RateLimit, TestResult
from plugins.slack import message
from plugins.slack.channels import check_channel
from plugins.slack.clients import digest, host_of, slack_errors, web_client, webhook_client
from plugins.slack.config import SlackConfig
from plugins.slack.errors import header, webhook_error

VERSION = "1.0.0"
SEND_TIMEOUT = 15.0
TEST_TIMEOUT = 10.0


class SlackPlugin(Plugin):
    id = "slack"
    name = "Slack"
    version = VERSION
    description = "Post each submission to a Slack channel, as a bot or through an incoming hook."
    category = "notification"
    icon = "slack"
    triggers = ("form.submitted", "response.edited", "response.deleted")
    config_schema = SlackConfig
    settings_keys = ("SLACK_API_URL",)
    rate_limit = RateLimit(calls=1, period=1.0)  # Slack: about one message per second per channel

    def rate_limit_key(self, config: dict[str, Any]) -> str | None:
        if config.get("webhook_url"):
            return f"hook:{digest(config['webhook_url'])}"
        return f"{digest(config.get('token') or '')}:{config.get('channel')}"

    def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        config, timeout = ctx.config, min(SEND_TIMEOUT, ctx.time_left)
        body = message.build(config, ctx.payload)
        sent = {"text": body["text"][:1000], "blocks": len(body.get("blocks", []))}
        try:
            if config.get("webhook_url"):
                return self._post_webhook(config, body, sent, timeout)
            return self._post_bot(config, body, sent, timeout)
        except PluginError as err:
            err.response = {**err.response, "request": sent}
            raise

    def preview(self, ctx: ExecutionContext) -> dict[str, Any]:
        where = (
            "the incoming webhook"
            if ctx.config.get("webhook_url")
            else f"channel {ctx.config.get('channel')}"
        )
        return {"to": where, "message": message.build(ctx.config, ctx.payload)}

    def _post_webhook(self, config: dict, body: dict, sent: dict, timeout: float) -> ExecutionResult:
        where = host_of(config["webhook_url"])
        with slack_errors(where):
            resp = webhook_client(config["webhook_url"], self.settings, timeout).send_dict(body)
        error = webhook_error(resp)
        if error:
            raise error
        return ExecutionResult(
            summary="Posted through the incoming webhook",
            request={**sent, "via": "webhook"},
            response={"status_code": resp.status_code, "body_excerpt": (resp.body or "")[:200]},
            output={"posted": True},  # an incoming webhook answers no message id
        )

    def _post_bot(self, config: dict, body: dict, sent: dict, timeout: float) -> ExecutionResult:
        channel = config["channel"]
        client = web_client(config["token"], self.settings, timeout)
        with slack_errors(host_of(client.base_url), channel):
            resp = client.chat_postMessage(channel=channel, unfurl_links=False, unfurl_media=False, **body)
        posted = {"channel": resp.get("channel"), "ts": resp.get("ts")}
        return ExecutionResult(
            summary=f"Posted to {channel}",
            request={**sent, "channel": channel},
            response={"status_code": resp.status_code, **posted},
            output={"posted": True, **posted},
        )

    def test_connection(self, config: dict[str, Any]) -> TestResult:
        try:
            if config.get("webhook_url"):
                return self._test_webhook(config)
            return self._test_bot(config)
        except PluginError as err:
            return TestResult(False, err.message, {k: v for k, v in err.response.items() if k != "request"})

    def _test_webhook(self, config: dict[str, Any]) -> TestResult:
        """An empty message: a live hook refuses it with no_text and posts nothing; a dead one says so.

        (slack-sdk sends ``{}`` as ``null``, hence an explicitly empty text.)
        """
        with slack_errors(host_of(config["webhook_url"])):
            resp = webhook_client(config["webhook_url"], self.settings, TEST_TIMEOUT).send_dict({"text": ""})
        if resp.status_code == 400 and (resp.body or "").strip() == "no_text":
            return TestResult(True, "The webhook is live. Nothing was posted.", {"status_code": 400})
        error = webhook_error(resp)
        if error:
            return TestResult(False, error.message, {"status_code": resp.status_code})
        return TestResult(True, "The webhook is live.", {"status_code": resp.status_code})

    def _test_bot(self, config: dict[str, Any]) -> TestResult:
        channel = config["channel"]
        client = web_client(config["token"], self.settings, TEST_TIMEOUT)
        with slack_errors(host_of(client.base_url), channel):
            auth = client.auth_test()
            scopes = {
                s.strip() for s in (header(auth.headers, "X-OAuth-Scopes") or "").split(",") if s.strip()
            }
            who = f"{auth.get('user')} in {auth.get('team')}"
            details = {"team": auth.get("team"), "bot": auth.get("user"), "channel": channel}
            verdict = check_channel(client, channel, scopes)
        details.update(verdict.details)
        return TestResult(verdict.ok, f"Authenticated as {who}. {verdict.message}", details)
