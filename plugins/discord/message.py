"""The Discord webhook message an event becomes: text content and, by default, one embed of the fields."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from app.contract import (
    EVENT_TITLES,
    Secret,
    Template,
    display_value,
    render,
    select_fields,
    selection_field,
    template_context,
)

WEBHOOK = r"^https?://[^/]+(:\d+)?/api(/v\d+)?/webhooks/\d+/[\w-]+/?$"
# Discord's limits: content 2000, embed title 256, 25 fields of name 256 / value 1024, 6000 in all.
CONTENT_MAX, TITLE_MAX, FIELDS_MAX, NAME_MAX, VALUE_MAX, EMBED_MAX = 2000, 256, 25, 256, 1024, 6000
INLINE_BELOW = 40  # short values sit side by side


class DiscordConfig(Schema):
    webhook_url = Secret(
        standalone=True,  # the secret is the destination
        required=True,
        validate=validate.Regexp(
            WEBHOOK, error="Paste the channel webhook's URL (https://discord.com/api/webhooks/<id>/<token>)."
        ),
        metadata={"description": "The channel webhook's URL (Server settings › Integrations › Webhooks)"},
    )
    content = Template(
        load_default="",
        metadata={"description": "Message text (a template, Discord markdown); empty with the embed on"},
    )
    embed = fields.Boolean(
        load_default=True, metadata={"description": "Add an embed with the form name and the selected fields"}
    )
    color = fields.Integer(
        load_default=0x5865F2,
        validate=validate.Range(min=0, max=0xFFFFFF),
        metadata={
            "description": "The colour of the embed's side bar (as a number in the API: 0x5865F2 = 5793266)",
            "x-widget": "color",
        },
    )
    username = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=80),
        metadata={"description": "Post under this name instead of the webhook's"},
    )
    fields = selection_field()


def build(config: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """The execute-webhook body. Mentions are never parsed: submitted text cannot ping @everyone."""
    selected = select_fields(payload, config.get("fields"))
    content = render(config.get("content") or "", template_context(payload, selected), "text", "content")
    body: dict[str, Any] = {"content": content.strip()[:CONTENT_MAX], "allowed_mentions": {"parse": []}}
    if config.get("username"):
        body["username"] = config["username"]
    if config.get("embed", True):
        event = payload.get("event") or ""
        title = f"{EVENT_TITLES.get(event, event)}: {(payload.get('form') or {}).get('name', '')}"
        embed: dict[str, Any] = {"title": title[:TITLE_MAX], "color": config.get("color", 0x5865F2)}
        budget = EMBED_MAX - len(embed["title"])
        embed_fields = []
        for f in selected[:FIELDS_MAX]:
            value = str(display_value(f.value))[:VALUE_MAX] or "–"
            name = f.label[:NAME_MAX]
            budget -= len(name) + len(value)
            if budget < 0:
                break
            embed_fields.append({"name": name, "value": value, "inline": len(value) < INLINE_BELOW})
        embed["fields"] = embed_fields
        submission = payload.get("submission") or {}
        if submission.get("id"):
            embed["footer"] = {"text": f"Submission {submission['id']}"}
        if payload.get("occurred_at"):
            embed["timestamp"] = payload["occurred_at"]
        body["embeds"] = [embed]
    return body
