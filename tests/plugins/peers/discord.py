"""A fake Discord webhook API: execute (with ?wait=true), get, its validation and its rate limit headers."""

from __future__ import annotations

from typing import Any

from tests.plugins.peers.http import FakeServer, Reply, Request

HOOK_ID, TOKEN = "1234567890", "hook-token_AbC123"
LIMIT = 5


class FakeDiscord:
    """Webhook HOOK_ID/TOKEN of channel 42 allows LIMIT posts per window; ``messages`` are what was posted."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.remaining = LIMIT
        self.server = FakeServer(self._handle)

    @property
    def webhook_url(self) -> str:
        return f"{self.server.url}/api/webhooks/{HOOK_ID}/{TOKEN}"

    def script(self, *replies: Reply) -> None:
        self.server.script(*replies)

    def _handle(self, req: Request) -> Reply:
        parts = req.path.strip("/").split("/")
        if len(parts) != 4 or parts[:2] != ["api", "webhooks"] or parts[2] != HOOK_ID:
            return Reply(404, {"message": "Unknown Webhook", "code": 10015})
        if parts[3] != TOKEN:
            return Reply(401, {"message": "Invalid Webhook Token", "code": 50027})
        hook = {"id": HOOK_ID, "type": 1, "name": "Formbot", "channel_id": "42", "guild_id": "7"}
        if req.method == "GET":
            return Reply(200, hook)
        if self.remaining == 0:
            return Reply(
                429,
                {"message": "You are being rate limited.", "retry_after": 1.5, "global": False},
                {"Retry-After": "2", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "1.5"},
            )
        message = req.json()
        problem = _problem(message)
        if problem:
            return Reply(400, {"message": "Invalid Form Body", "code": 50035, "errors": problem})
        self.remaining -= 1
        self.messages.append(message)
        headers = {
            "X-RateLimit-Limit": str(LIMIT),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset-After": "2.0",
            "X-RateLimit-Bucket": "abcd",
        }
        if req.query.get("wait") != "true":
            return Reply(204, b"", headers)
        return Reply(200, {"id": f"m{len(self.messages)}", "channel_id": "42", **message}, headers)

    def close(self) -> None:
        self.server.close()


def _problem(message: dict[str, Any]) -> str | None:
    embeds = message.get("embeds") or []
    if not message.get("content") and not embeds:
        return "Cannot send an empty message"
    if len(message.get("content") or "") > 2000:
        return "content: Must be 2000 or fewer in length."
    for embed in embeds:
        fields = embed.get("fields") or []
        if len(fields) > 25 or any(
            len(f["name"]) > 256 or len(f["value"]) > 1024 or not f["value"] for f in fields
        ):
            return "embeds.fields: invalid"
    return None
