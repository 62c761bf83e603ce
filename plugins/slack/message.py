"""The Slack message an event becomes: the rendered text and, by default, a Block Kit layout."""

from __future__ import annotations

from typing import Any

from app.contract import (
    EVENT_TITLES,
    SelectedField,
    display_value,
    render,
    select_fields,
    slack_escape,
    template_context,
)
from plugins.slack.config import DEFAULT_TEXT

FIELDS_PER_SECTION = 10  # Slack's limits: 10 fields per section, 2000 characters each, 50 blocks
FIELD_TEXT_MAX = 2000
HEADER_MAX = 150
MAX_BLOCKS = 50


def build(config: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """``{"text": ..., "blocks": [...]}`` (blocks only when enabled) for chat.postMessage or a webhook."""
    selected = select_fields(payload, config.get("fields"))
    text = render(config.get("text") or DEFAULT_TEXT, template_context(payload, selected), "slack", "text")
    message: dict[str, Any] = {"text": text}
    if config.get("blocks", True):
        message["blocks"] = blocks(payload, selected)
    return message


def blocks(payload: dict[str, Any], selected: list[SelectedField]) -> list[dict[str, Any]]:
    """A header with the form name, sections listing the fields, and the submission id."""
    event = payload.get("event") or ""
    title = f"{EVENT_TITLES.get(event, event)}: {(payload.get('form') or {}).get('name', '')}"
    result: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:HEADER_MAX], "emoji": True}}
    ]
    for start in range(0, len(selected), FIELDS_PER_SECTION):
        chunk = selected[start : start + FIELDS_PER_SECTION]
        result.append({"type": "section", "fields": [_field(f) for f in chunk]})
    result = result[: MAX_BLOCKS - 1]
    submission = payload.get("submission") or {}
    if submission.get("id"):
        result.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Submission `{submission['id']}`"}]}
        )
    return result


def _field(field: SelectedField) -> dict[str, str]:
    value = slack_escape(display_value(field.value)) or "–"
    return {"type": "mrkdwn", "text": f"*{slack_escape(field.label)}*\n{value}"[:FIELD_TEXT_MAX]}
