"""Can the bot post to its channel? Found by ID or name, then membership, archive state and scopes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
MAX_PAGES = 20


@dataclass
class Verdict:
    ok: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def find_channel(client: WebClient, channel: str) -> dict[str, Any] | None:
    """The channel's info, looked up by ID, or by name among the channels the token can see."""
    if CHANNEL_ID.match(channel):
        return client.conversations_info(channel=channel)["channel"]
    name, cursor = channel.lstrip("#"), None
    for _ in range(MAX_PAGES):
        page = client.conversations_list(
            types="public_channel,private_channel", exclude_archived=False, limit=200, cursor=cursor
        )
        for found in page.get("channels", []):
            if found.get("name") == name:
                return found
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None
    return None


def check_channel(client: WebClient, channel: str, scopes: set[str]) -> Verdict:
    try:
        info = find_channel(client, channel)
    except SlackApiError as exc:
        if (exc.response.data or {}).get("error") != "missing_scope":
            raise
        return Verdict(
            True,
            f"The channel {channel} could not be checked (the token lacks channels:read); "
            "the first message will tell.",
        )
    if info is None:
        return Verdict(
            False,
            f"Slack cannot find the channel {channel}. Check its name; for a private channel, invite the app first.",
        )
    shown = f"#{info.get('name')}" if info.get("name") else channel
    details = {"channel_id": info.get("id"), "channel_name": info.get("name")}
    if info.get("is_archived"):
        return Verdict(False, f"The channel {shown} is archived.", details)
    if info.get("is_member") or (not info.get("is_private") and "chat:write.public" in scopes):
        return Verdict(True, f"It can post to {shown}. Nothing was posted.", details)
    return Verdict(
        False,
        f"The app is not a member of {shown}. Invite it there (/invite @your-app)"
        + (", or give the app the chat:write.public scope." if not info.get("is_private") else "."),
        details,
    )
