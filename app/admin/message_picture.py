"""The editor's preview as a picture of the message: an e-mail as the mail (its HTML in a sandboxed frame,
its text beside it), a Slack, Teams or Discord post as that app shows it. Rendered by
templates/admin/_preview.html; the raw JSON stays one click away. Plugins without a picture show the JSON.

Everything here is built for escaping templates: chat text goes through app.admin.chat_markup (escaped,
then formatted); the e-mail's HTML only ever goes into the ``srcdoc`` of an ``<iframe sandbox="">``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from app.admin.chat_markup import markdown, slack_mrkdwn, unslack
from app.field_selection import display_value

Shown = Markup | str
Field = tuple[Shown, Shown, bool]  # (name, value, shown side by side)


@dataclass
class Block:
    """One piece of a chat message: ``kind`` is header, text, fields, context or pre."""

    kind: str
    text: Markup | str = ""
    fields: list[tuple[Markup | str, Markup | str, bool]] = field(
        default_factory=list
    )  # (name, value, inline)


@dataclass
class Embed:
    """A Discord embed: a colour bar, a title, fields and a footer."""

    color: str
    title: str
    fields: list[Field]
    footer: str = ""
    timestamp: str = ""


@dataclass
class Picture:
    """What the preview template draws: ``kind`` is email, chat or json."""

    kind: str
    app: str = ""  # Slack, Microsoft Teams, Discord
    author: str = ""
    to: str = ""
    blocks: list[Block] = field(default_factory=list)
    embeds: list[Embed] = field(default_factory=list)
    notification: str = ""  # Slack's fallback text, when blocks carry the message
    headers: list[tuple[str, str]] = field(default_factory=list)  # an e-mail's From, To, Subject...
    html: str | None = None
    text: str | None = None
    raw: str = ""


def _text(value: Any) -> str:
    return "" if value is None else str(display_value(value))


def _hex(value: Any) -> str:
    return f"#{value:06x}" if isinstance(value, int) and 0 <= value <= 0xFFFFFF else "#5865f2"


def email(preview: dict[str, Any]) -> Picture:
    headers = [
        (label, ", ".join(v) if isinstance(v, list) else str(v))
        for label, key in (
            ("From", "from"),
            ("To", "to"),
            ("Cc", "cc"),
            ("Bcc", "bcc"),
            ("Subject", "subject"),
        )
        if (v := preview.get(key))
    ]
    return Picture("email", headers=headers, html=preview.get("html"), text=preview.get("text"))


def _slack_block(block: dict[str, Any]) -> Block | None:
    kind = block.get("type")
    text: dict[str, Any] = block["text"] if isinstance(block.get("text"), dict) else {}
    if kind == "header":
        return Block("header", _text(text.get("text")))
    if kind == "section":
        shown: list[Field] = [
            (slack_mrkdwn(_text(f.get("text"))), "", True) for f in block.get("fields") or []
        ]
        return Block("fields" if shown else "text", slack_mrkdwn(_text(text.get("text"))), shown)
    if kind == "context":
        parts = [
            slack_mrkdwn(_text(e.get("text"))) for e in block.get("elements") or [] if isinstance(e, dict)
        ]
        return Block("context", Markup(" ").join(parts))
    if kind == "divider":
        return Block("divider")
    return Block("pre", json.dumps(block, indent=2))


def slack(preview: dict[str, Any]) -> Picture:
    message = preview.get("message") or {}
    blocks = [b for b in (_slack_block(x) for x in message.get("blocks") or []) if b is not None]
    text = _text(message.get("text"))
    if not blocks:
        return Picture(
            "chat", "Slack", "Your Slack app", preview.get("to", ""), [Block("text", slack_mrkdwn(text))]
        )
    return Picture(
        "chat", "Slack", "Your Slack app", preview.get("to", ""), blocks, notification=unslack(text)
    )


def _card_element(element: dict[str, Any]) -> Block | None:
    kind = element.get("type")
    if kind == "TextBlock":
        text = markdown(_text(element.get("text")))
        if element.get("weight") == "Bolder":
            return Block("header", text)
        return Block("context" if element.get("isSubtle") else "text", text)
    if kind == "FactSet":
        facts: list[Field] = [
            (_text(f.get("title")), markdown(_text(f.get("value"))), False)
            for f in element.get("facts") or []
        ]
        return Block("facts", fields=facts)
    return Block("pre", json.dumps(element, indent=2))


def teams(preview: dict[str, Any]) -> Picture:
    message = preview.get("message") or {}
    blocks: list[Block] = []
    for attachment in message.get("attachments") or []:
        card = attachment.get("content") or {}
        blocks += [b for b in (_card_element(e) for e in card.get("body") or []) if b is not None]
    return Picture("chat", "Microsoft Teams", "Workflows", preview.get("to", ""), blocks)


def discord(preview: dict[str, Any]) -> Picture:
    message = preview.get("message") or {}
    blocks = [Block("text", markdown(_text(message["content"])))] if message.get("content") else []
    embeds = [
        Embed(
            color=_hex(e.get("color")),
            title=_text(e.get("title")),
            fields=[
                (_text(f.get("name")), markdown(_text(f.get("value"))), bool(f.get("inline")))
                for f in e.get("fields") or []
            ],
            footer=_text((e.get("footer") or {}).get("text")),
            timestamp=_text(e.get("timestamp")),
        )
        for e in message.get("embeds") or []
    ]
    author = message.get("username") or "Your webhook's name"
    return Picture("chat", "Discord", author, preview.get("to", ""), blocks, embeds)


PICTURES = {"email": email, "slack": slack, "teams": teams, "discord": discord}


def picture(plugin_id: str, preview: dict[str, Any]) -> Picture:
    """The picture of ``preview`` (what ``plugin_id``'s preview returned), with its raw JSON."""
    raw = json.dumps(preview, indent=2, ensure_ascii=False, default=str)
    draw = PICTURES.get(plugin_id)
    try:
        shown = draw(preview) if draw else Picture("json")
    except (AttributeError, TypeError, KeyError):  # not the shape this plugin's previews have
        shown = Picture("json")
    shown.raw = raw
    return shown
