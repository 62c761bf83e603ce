"""Microsoft Teams: post each event to a channel as an Adaptive Card, through a Workflows or incoming webhook."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlsplit

import requests

from app.contract import (
    ExecutionContext,
    ExecutionResult,
    Plugin,
    PluginError,
    RateLimit,
    TestResult,
    check_url,
    raise_for_response,
    response_summary,
    retry_after_seconds,
    send,
    shared_session,
)
from plugins.teams.card import TeamsConfig, build

VERSION = "1.0.0"
SEND_TIMEOUT = 15.0
TEST_TIMEOUT = 10.0
DELIVERY_FAILED = "delivery failed"  # legacy connectors answer 200 with this when Teams refused the message


class TeamsPlugin(Plugin):
    id = "teams"
    name = "Microsoft Teams"
    version = VERSION
    description = "Post each submission to a Teams channel as an Adaptive Card, through a webhook."
    category = "notification"
    icon = "teams"
    triggers = ("form.submitted", "response.edited", "response.deleted")
    config_schema = TeamsConfig
    rate_limit = RateLimit(calls=4, period=1.0)  # Teams throttles a webhook beyond about 4 posts a second

    def rate_limit_key(self, config: dict[str, Any]) -> str | None:
        return hashlib.sha256(config["webhook_url"].encode()).hexdigest()[:16]

    def _session(self) -> requests.Session:
        return shared_session(bool(self.settings.get("ALLOW_PRIVATE_DESTINATIONS")))

    def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        message = build(ctx.config, ctx.payload)
        card = message["attachments"][0]["content"]
        sent = {
            "title": card["body"][0]["text"],
            "blocks": len(card["body"]),
            "bytes": len(json.dumps(message)),
        }
        url, where = ctx.config["webhook_url"], _host(ctx.config["webhook_url"])
        resp = send(self._session(), "POST", url, min(SEND_TIMEOUT, ctx.time_left), json=message)
        try:
            _raise_for_teams(resp, where)
        except PluginError as err:
            err.response = {**err.response, "request": sent}
            raise
        return ExecutionResult(f"Posted a card through {where}", sent, response_summary(resp))

    def preview(self, ctx: ExecutionContext) -> dict[str, Any]:
        return {
            "to": f"the webhook at {_host(ctx.config['webhook_url'])}",
            "message": build(ctx.config, ctx.payload),
        }

    def test_connection(self, config: dict[str, Any]) -> TestResult:
        """Teams webhooks cannot be checked without posting, so this only proves the URL answers."""
        url, where = config["webhook_url"], _host(config["webhook_url"])
        try:
            check_url(url, bool(self.settings.get("ALLOW_PRIVATE_DESTINATIONS")))
            resp = send(self._session(), "GET", url, TEST_TIMEOUT)
        except PluginError as err:
            return TestResult(False, err.message)
        if resp.status_code in (404, 410):
            return TestResult(
                False,
                f"{where} says this webhook does not exist (HTTP {resp.status_code}). "
                "Copy the URL again from the channel's workflow.",
                {"status_code": resp.status_code},
            )
        return TestResult(
            True,
            f"{where} answers. Teams cannot check a webhook without posting, so nothing was posted: "
            "the first submission will show the card.",
            {"status_code": resp.status_code},
        )


def _host(url: str) -> str:
    """Where a webhook points, without its secret path."""
    return urlsplit(url).hostname or "the webhook"


def _raise_for_teams(resp: requests.Response, where: str) -> None:
    """Teams' answers as PluginErrors that say what to fix."""
    code, body = resp.status_code, resp.text[:300]
    summary = response_summary(resp)
    if code < 300 and DELIVERY_FAILED in body.lower():
        retryable = any(f"HTTP error {n}" in body for n in (408, 429, 500, 502, 503, 504))
        raise PluginError(
            f"Teams did not deliver the card: {body}", permanent=not retryable, response=summary
        )
    if code in (401, 403):
        raise PluginError(
            f"{where} refused the webhook URL (HTTP {code}). Its signature may have been reset: "
            "copy the URL again from the channel's workflow.",
            permanent=True,
            response=summary,
        )
    if code == 404:
        raise PluginError(
            f"The Teams webhook no longer exists (HTTP 404 at {where}): its workflow or connector was "
            "removed. Create a new one and paste its URL.",
            disable=True,
            response=summary,
        )
    if code == 413:
        raise PluginError(
            "The card is too large for Teams (28 KB). Select fewer fields or shorten the text.",
            permanent=True,
            response=summary,
        )
    if code == 400:
        raise PluginError(f"Teams refused the card (HTTP 400): {body}", permanent=True, response=summary)
    if code == 429:
        wait = retry_after_seconds(resp.headers.get("Retry-After"))
        raise PluginError(
            f"Teams is throttling this webhook; will retry{f' in {wait:g} s' if wait else ''}.",
            retry_after=wait,
            response=summary,
        )
    raise_for_response(resp)
