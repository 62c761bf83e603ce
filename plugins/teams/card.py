"""The Adaptive Card an event becomes, wrapped in the message envelope Teams webhooks expect."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from app.contract import (
    Secret,
    Template,
    display_value,
    render,
    select_fields,
    selection_field,
    template_context,
)

DEFAULT_TITLE = "{{ event_title }}: {{ form.name }}"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
MAX_FACTS = 60  # a card stays well below Teams' 28 KB message limit
FACT_MAX = 2000


class TeamsConfig(Schema):
    webhook_url = Secret(
        standalone=True,  # the secret is the destination
        required=True,
        validate=validate.URL(schemes={"https", "http"}, require_tld=False),
        metadata={"description": "The channel's Workflows (or incoming) webhook URL"},
    )
    title = Template(
        load_default=DEFAULT_TITLE,
        widget="text",
        metadata={"description": "The card's title (a template)"},
    )
    text = Template(
        load_default="",
        metadata={"description": "Text under the title (a template; Teams markdown); empty for none"},
    )
    facts = fields.Boolean(
        load_default=True, metadata={"description": "List the selected fields as label/value facts"}
    )
    fields = selection_field()


def build(config: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """The webhook message: one Adaptive Card with the title, the text and the fields as facts."""
    selected = select_fields(payload, config.get("fields"))
    context = template_context(payload, selected)
    title = render(config.get("title") or DEFAULT_TITLE, context, "text", "title").strip()
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True}
    ]
    text = render(config.get("text") or "", context, "text", "text").strip()
    if text:
        body.append({"type": "TextBlock", "text": text, "wrap": True})
    if config.get("facts", True) and selected:
        facts = [{"title": f.label, "value": str(display_value(f.value))[:FACT_MAX] or "–"} for f in selected]
        body.append({"type": "FactSet", "facts": facts[:MAX_FACTS]})
    submission = payload.get("submission") or {}
    if submission.get("id"):
        body.append(
            {"type": "TextBlock", "text": f"Submission {submission['id']}", "isSubtle": True, "size": "Small"}
        )
    card = {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": "1.4", "body": body}
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }
