"""A fake Teams webhook endpoint: a Power Automate "post card" workflow trigger, checked like the real one."""

from __future__ import annotations

from typing import Any

from tests.plugins.peers.http import FakeServer, Reply, Request

WORKFLOW = "/workflows/3f1c/triggers/manual/paths/invoke"
SIG = "s3cr3t-signature-value"
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
ELEMENTS = {"TextBlock": "text", "FactSet": "facts"}


class FakeTeams:
    """Accepts Adaptive Card messages at WORKFLOW?sig=SIG (202); ``cards`` are the posted cards."""

    def __init__(self) -> None:
        self.cards: list[dict[str, Any]] = []
        self.server = FakeServer(self._handle)

    @property
    def webhook_url(self) -> str:
        return f"{self.server.url}{WORKFLOW}?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sig={SIG}"

    @property
    def requests(self) -> list[Request]:
        return self.server.requests

    def script(self, *replies: Reply) -> None:
        self.server.script(*replies)

    def _handle(self, req: Request) -> Reply:
        if req.path != WORKFLOW:
            return Reply(
                404, {"error": {"code": "WorkflowNotFound", "message": "The workflow was not found."}}
            )
        if req.query.get("sig") != SIG:
            return Reply(401, {"error": {"code": "DirectApiInvalidAuthorizationSignature"}})
        if req.method != "POST":
            return Reply(405, {"error": {"code": "TriggerRequestMethodNotValid"}})
        problem = _card_problem(req.json())
        if problem:
            return Reply(400, {"error": {"code": "InvalidRequestContent", "message": problem}})
        self.cards.append(req.json()["attachments"][0]["content"])
        return Reply(202, "")

    def close(self) -> None:
        self.server.close()


def _card_problem(message: Any) -> str | None:
    if not isinstance(message, dict) or message.get("type") != "message":
        return 'The message must have "type": "message".'
    attachments = message.get("attachments") or []
    if len(attachments) != 1 or attachments[0].get("contentType") != CARD_TYPE:
        return "Exactly one Adaptive Card attachment is expected."
    card = attachments[0].get("content") or {}
    if card.get("type") != "AdaptiveCard" or not card.get("version") or not card.get("body"):
        return "The attachment is not an Adaptive Card with a body."
    for element in card["body"]:
        required = ELEMENTS.get(element.get("type"))
        if required is None or not element.get(required):
            return f"Element {element.get('type')!r} is unknown or lacks {required!r}."
    return None
