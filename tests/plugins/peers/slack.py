"""A fake Slack Web API and incoming webhooks over HTTP: the endpoints and errors the plugin meets."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from tests.plugins.peers.http import FakeServer, Reply, Request

TOKEN = "xoxb-test-token"
HOOK_PATH = "/services/T1/B1/live"


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_archived: bool = False
    members: set[str] = field(default_factory=set)

    def info(self, user: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": True,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_member": user in self.members,
        }


class FakeSlack:
    """Bot ``formbot`` (U1) of team Acme is in #forms; #general exists but the bot is not in it."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.tokens = {TOKEN: {"team": "Acme", "team_id": "T1", "user": "formbot", "user_id": "U1"}}
        self.scopes = "chat:write,channels:read,groups:read"
        self.channels = {
            c.id: c
            for c in (
                Channel("C0000001", "forms", members={"U1"}),
                Channel("C0000002", "general"),
                Channel("C0000003", "old", is_archived=True, members={"U1"}),
            )
        }
        self.hooks = {HOOK_PATH: "C0000001"}
        self.posts: list[dict[str, Any]] = []  # what became visible in a channel
        self.scripted: dict[str, list[Reply]] = {}  # path → replies to give before the normal ones
        self._ts = itertools.count(1)
        self.server = FakeServer(self._handle, host)

    @property
    def api_url(self) -> str:
        return self.server.url + "/api/"

    @property
    def hook_url(self) -> str:
        return self.server.url + HOOK_PATH

    def script(self, path: str, *replies: Reply) -> None:
        self.scripted.setdefault(path, []).extend(replies)

    def close(self) -> None:
        self.server.close()

    # -- requests ---------------------------------------------------------------------------------------

    def _handle(self, req: Request) -> Reply:
        if self.scripted.get(req.path):
            return self.scripted[req.path].pop(0)
        if req.path.startswith("/services/"):
            return self._hook(req)
        method = req.path.removeprefix("/api/")
        params = req.params()
        token = req.headers.get("authorization", "").removeprefix("Bearer ") or params.get("token")
        bot = self.tokens.get(token or "")
        if bot is None:
            return self._error("not_authed" if not token else "invalid_auth")
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return self._error("unknown_method")
        return handler(bot, params)

    @staticmethod
    def _error(error: str, **extra: Any) -> Reply:
        return Reply(200, {"ok": False, "error": error, **extra})

    def _auth_test(self, bot: dict, params: dict) -> Reply:
        body = {"ok": True, "url": "https://acme.slack.com/", "bot_id": "B1", **bot}
        return Reply(200, body, {"x-oauth-scopes": self.scopes})

    def _find(self, ref: str) -> Channel | None:
        return self.channels.get(ref) or next(
            (c for c in self.channels.values() if c.name == ref.lstrip("#")), None
        )

    def _conversations_info(self, bot: dict, params: dict) -> Reply:
        channel = self.channels.get(params.get("channel", ""))
        if channel is None or (channel.is_private and bot["user_id"] not in channel.members):
            return self._error("channel_not_found")
        return Reply(200, {"ok": True, "channel": channel.info(bot["user_id"])})

    def _conversations_list(self, bot: dict, params: dict) -> Reply:
        visible = [
            c.info(bot["user_id"])
            for c in self.channels.values()
            if not c.is_private or bot["user_id"] in c.members
        ]
        return Reply(200, {"ok": True, "channels": visible, "response_metadata": {"next_cursor": ""}})

    def _chat_postMessage(self, bot: dict, params: dict) -> Reply:  # noqa: N802
        channel = self._find(params.get("channel", ""))
        if channel is None:
            return self._error("channel_not_found")
        if channel.is_archived:
            return self._error("is_archived")
        public_ok = not channel.is_private and "chat:write.public" in self.scopes
        if bot["user_id"] not in channel.members and not public_ok:
            return self._error("not_in_channel")
        error = _message_error(params)
        if error:
            return self._error(error)
        ts = f"1700000000.{next(self._ts):06d}"
        self.posts.append(
            {"channel": channel.id, "ts": ts, "text": params.get("text"), "blocks": params.get("blocks")}
        )
        return Reply(200, {"ok": True, "channel": channel.id, "ts": ts})

    def _hook(self, req: Request) -> Reply:
        channel = self.hooks.get(req.path)
        if channel is None:
            return Reply(404, "no_service")
        if req.method != "POST":
            return Reply(405, "invalid_method")
        body = req.json()
        if not isinstance(body, dict):
            return Reply(400, "invalid_payload")
        error = _message_error(body)
        if error:
            return Reply(400, error)
        self.posts.append({"channel": channel, "text": body.get("text"), "blocks": body.get("blocks")})
        return Reply(200, "ok")


def _message_error(message: dict[str, Any]) -> str | None:
    """Slack's checks of a message: some text, and blocks within Block Kit's limits."""
    blocks = message.get("blocks")
    if isinstance(blocks, str):  # form-encoded posts carry blocks as JSON text
        blocks = json.loads(blocks)
    if not message.get("text") and not blocks:
        return "no_text"
    if blocks is None:
        return None
    if len(blocks) > 50:
        return "invalid_blocks"
    for block in blocks:
        if block.get("type") == "header" and not 0 < len(block["text"]["text"]) <= 150:
            return "invalid_blocks"
        if block.get("type") == "section":
            fields = block.get("fields") or []
            if len(fields) > 10 or any(not 0 < len(f.get("text", "")) <= 2000 for f in fields):
                return "invalid_blocks"
    return None
