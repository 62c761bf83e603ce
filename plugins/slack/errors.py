"""What Slack's answers mean to a form owner, and whether retrying can help."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookResponse

from app.contract import PluginError
from app.contract.http import retry_after_seconds

BAD_TOKEN = "Slack rejected the token ({error}). Paste a valid bot token (xoxb-...) of an installed app."
FIXES = {
    "invalid_auth": BAD_TOKEN,
    "not_authed": BAD_TOKEN,
    "account_inactive": BAD_TOKEN,
    "token_revoked": "The token was revoked ({error}). Reinstall the Slack app and paste its new bot token.",
    "token_expired": "The token expired ({error}). Reinstall the Slack app and paste its new bot token.",
    "channel_not_found": (
        "Slack cannot find the channel {channel}. Check its name or ID; "
        "for a private channel, invite the app first."
    ),
    "not_in_channel": (
        "The app is not a member of {channel}. Invite it there (/invite @your-app), "
        "or give the app the chat:write.public scope."
    ),
    "is_archived": "The channel {channel} is archived. Unarchive it or choose another channel.",
    "missing_scope": "The token lacks the {needed} scope. Add it to the Slack app and reinstall it.",
    "msg_too_long": "The message is too long for Slack. Shorten the text template or select fewer fields.",
    "no_text": "The message is empty: the text template rendered nothing.",
}
RETRYABLE = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
DEAD_HOOK = {"no_service", "no_team", "team_disabled"}


def header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """A response header, whatever the case Slack sent it in."""
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value[0] if isinstance(value, list) else value
    return None


def api_error(exc: SlackApiError, channel: str | None) -> PluginError:
    """A PluginError for a failed Web API call (chat.postMessage, auth.test, ...)."""
    resp = exc.response
    data = resp.data if isinstance(resp.data, dict) else {}
    error = data.get("error") or f"HTTP {resp.status_code}"
    summary = {"status_code": resp.status_code, "error": error}
    if resp.status_code == 429 or error == "ratelimited":
        wait = retry_after_seconds(header(resp.headers, "Retry-After"))
        return PluginError(
            f"Slack is rate limiting this app (retry after {wait or 'a pause'} s).",
            retry_after=wait,
            response=summary,
        )
    if 300 <= resp.status_code < 400:
        return PluginError(
            f"The Slack API answered with a redirect (HTTP {resp.status_code}), which is not followed. "
            "Check SLACK_API_URL: it should be Slack's API base, https://slack.com/api/.",
            permanent=True,
            response={"status_code": resp.status_code},
        )
    if error in FIXES:
        message = FIXES[error].format(
            error=error, channel=channel or "?", needed=data.get("needed") or "needed"
        )
        return PluginError(message, permanent=True, response=summary)
    if resp.status_code >= 500 or error in RETRYABLE:
        return PluginError(f"Slack answered {error}; will retry.", response=summary)
    return PluginError(f"Slack refused the message: {error}.", permanent=True, response=summary)


def webhook_error(resp: WebhookResponse) -> PluginError | None:
    """None when an incoming webhook accepted the message, else a PluginError saying why not."""
    status, body = resp.status_code, (resp.body or "").strip()
    summary = {"status_code": status, "body_excerpt": body[:200]}
    if status == 200:
        return None
    if status == 429:
        wait = retry_after_seconds(header(resp.headers, "Retry-After"))
        return PluginError("Slack is rate limiting this webhook.", retry_after=wait, response=summary)
    if 300 <= status < 400:
        return PluginError(
            f"The webhook URL answered with a redirect (HTTP {status}), which is not followed. "
            "Paste the incoming webhook URL Slack shows for the app.",
            permanent=True,
            response={"status_code": status},
        )
    if status >= 500:
        return PluginError(f"Slack answered HTTP {status} {body}; will retry.", response=summary)
    if status == 404 or body in DEAD_HOOK:
        return PluginError(
            f"The Slack webhook no longer exists ({body or status}): it was removed or its app uninstalled. "
            "Create a new incoming webhook and paste its URL.",
            disable=True,
            response=summary,
        )
    if status == 410 or body == "channel_is_archived":
        return PluginError(
            "The webhook's channel is archived. Unarchive it or create a webhook for another channel.",
            permanent=True,
            response=summary,
        )
    if status == 403 or body in ("invalid_token", "action_prohibited"):
        return PluginError(
            f"Slack refused this webhook ({body or status}). Create a new incoming webhook and paste its URL.",
            permanent=True,
            response=summary,
        )
    return PluginError(f"Slack refused the message: HTTP {status} {body}.", permanent=True, response=summary)


def unreachable(exc: BaseException, where: str) -> PluginError:
    """A network failure talking to Slack (``where``: a host, never a secret webhook URL): retryable."""
    reason = getattr(exc, "reason", None) or exc
    return PluginError(f"Could not reach Slack at {where}: {reason}.")
