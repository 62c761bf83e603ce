"""Discord: post each event to a channel through its webhook, as text and an embed of the fields."""

from __future__ import annotations

import hashlib
from typing import Any

import requests

from app.contract import (
    ExecutionContext,
    ExecutionResult,
    Plugin,
    PluginError,
    RateLimit,
    TestResult,
    raise_for_response,
    response_summary,
    retry_after_seconds,
    send,
    shared_session,
)
from plugins.discord.message import DiscordConfig, build

VERSION = "1.0.0"
SEND_TIMEOUT = 15.0
TEST_TIMEOUT = 10.0
GONE = {10015: "Unknown Webhook", 50027: "Invalid Webhook Token"}


class DiscordPlugin(Plugin):
    id = "discord"
    name = "Discord"
    version = VERSION
    description = (
        "Post each submission to a Discord channel through its webhook, with an embed of the fields."
    )
    category = "notification"
    icon = "discord"
    triggers = ("form.submitted", "response.edited", "response.deleted")
    config_schema = DiscordConfig
    rate_limit = RateLimit(
        calls=5, period=2.0
    )  # Discord: 5 posts per 2 s per webhook (X-RateLimit-* tell more)

    def rate_limit_key(self, config: dict[str, Any]) -> str | None:
        return hashlib.sha256(config["webhook_url"].encode()).hexdigest()[:16]

    def _call(self, method: str, url: str, timeout: float, **kwargs: Any) -> requests.Response:
        session = shared_session(bool(self.settings.get("ALLOW_PRIVATE_DESTINATIONS")))
        return send(session, method, url, timeout, **kwargs)

    def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        body = build(ctx.config, ctx.payload)
        sent = {
            "content": body["content"][:1000],
            "embed_fields": len(body["embeds"][0]["fields"]) if "embeds" in body else 0,
        }
        url = ctx.config["webhook_url"].rstrip("/")
        resp = self._call("POST", url, min(SEND_TIMEOUT, ctx.time_left), params={"wait": "true"}, json=body)
        try:
            raise_for_discord(resp)
        except PluginError as err:
            err.response = {**err.response, "request": sent}
            raise
        posted = resp.json()
        return ExecutionResult(
            f"Posted message {posted.get('id')} to channel {posted.get('channel_id')}",
            sent,
            {"status_code": resp.status_code, "message_id": posted.get("id"), **rate_limit_state(resp)},
        )

    def preview(self, ctx: ExecutionContext) -> dict[str, Any]:
        return {"to": "the channel of the webhook", "message": build(ctx.config, ctx.payload)}

    def test_connection(self, config: dict[str, Any]) -> TestResult:
        """Reads the webhook (GET): Discord says whether it exists and where it posts. Nothing is posted."""
        try:
            resp = self._call("GET", config["webhook_url"].rstrip("/"), TEST_TIMEOUT)
            raise_for_discord(resp)
        except PluginError as err:
            return TestResult(False, err.message, {"status_code": err.response.get("status_code")})
        hook = resp.json()
        return TestResult(
            True,
            f"The webhook {hook.get('name')!r} posts to channel {hook.get('channel_id')}. Nothing was posted.",
            {
                "name": hook.get("name"),
                "channel_id": hook.get("channel_id"),
                "guild_id": hook.get("guild_id"),
            },
        )


def rate_limit_state(resp: requests.Response) -> dict[str, Any]:
    """The X-RateLimit-* headers Discord sent, for the log."""
    return {
        k.lower(): v
        for k, v in resp.headers.items()
        if k.lower().startswith("x-ratelimit-") and k.lower() != "x-ratelimit-bucket"
    }


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def raise_for_discord(resp: requests.Response) -> None:
    """Discord's answers as PluginErrors; 429 waits as long as Discord asks (body, Retry-After, Reset-After)."""
    code = resp.status_code
    if 200 <= code < 300:
        return
    summary = {**response_summary(resp), **rate_limit_state(resp)}
    try:
        error = resp.json() if resp.content else {}
    except ValueError:
        error = {}
    error = error if isinstance(error, dict) else {}
    detail = error.get("message") or resp.reason or f"HTTP {code}"
    if code == 429:
        waits = [
            error.get("retry_after"),
            retry_after_seconds(resp.headers.get("Retry-After")),
            _seconds(resp.headers.get("X-RateLimit-Reset-After")),
        ]
        wait = max((float(w) for w in waits if isinstance(w, int | float)), default=None)
        scope = "all webhooks of this app (global)" if error.get("global") else "this webhook"
        raise PluginError(
            f"Discord is rate limiting {scope}; will retry{f' in {wait:g} s' if wait else ''}.",
            retry_after=wait,
            response=summary,
        )
    if code in (401, 404) or error.get("code") in GONE:
        raise PluginError(
            f"Discord says the webhook is gone ({detail}): it was deleted or its token reset. "
            "Create a webhook in the channel's settings and paste its URL.",
            disable=True,
            response=summary,
        )
    if code == 403:
        raise PluginError(
            f"Discord refused the post ({detail}). Check the webhook's channel permissions.",
            permanent=True,
            response=summary,
        )
    if code == 400:
        raise PluginError(
            f"Discord refused the message ({detail}): {resp.text[:300]}", permanent=True, response=summary
        )
    raise_for_response(resp)
