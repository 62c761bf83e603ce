"""The Slack integration's settings: an incoming webhook, or a bot token and a channel."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.contract import NoCredentialsInUrl, Secret, Template, selection_field

DEFAULT_TEXT = """*{{ event_title }}: {{ form.name }}*
{% for f in fields %}*{{ f.label }}*: {{ f.value }}
{% endfor %}"""
CHANNEL = r"^(#?[a-z0-9][a-z0-9_.\-]{0,79}|[CGD][A-Z0-9]{6,})$"


class SlackConfig(Schema):
    webhook_url = Secret(
        standalone=True,  # the secret is the destination
        load_default=None,
        allow_none=True,
        validate=[
            validate.URL(schemes={"http", "https"}, require_tld=False),
            NoCredentialsInUrl("Slack's webhook URLs carry no user name or password."),
        ],
        metadata={
            "description": "Incoming webhook URL (https://hooks.slack.com/services/...)",
            "x-mode": "Incoming webhook",
        },
    )
    token = Secret(
        bound_to=("channel",),  # it goes only to SLACK_API_URL; the channel is where it posts
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^xox[a-z]-", error="A Slack bot token starts with xoxb-."),
        metadata={
            "description": "Bot token (xoxb-...), used with channel instead of a webhook",
            "x-mode": "Bot token and channel",
        },
    )
    channel = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(CHANNEL, error="Give a channel name such as #forms, or its ID (C0123ABCD)."),
        metadata={"description": "Channel for the bot token: #name or ID", "x-mode": "Bot token and channel"},
    )
    text = Template(
        mode="slack",
        load_default=DEFAULT_TEXT,
        metadata={"description": "Message (mrkdwn); with blocks on, the notification text"},
    )
    blocks = fields.Boolean(
        load_default=True,
        metadata={"description": "Lay the message out as a header with the form name and the fields"},
    )
    fields = selection_field()

    @validates_schema
    def _mode(self, data: dict[str, Any], partial: Any = None, **_: Any) -> None:
        kept = set(partial) if isinstance(partial, tuple | list | set) else set()  # secrets kept on update

        def given(name: str) -> bool:
            return bool(data.get(name)) or name in kept

        token = "Paste the app's bot token (xoxb-...)."
        if not given("webhook_url") and not given("token"):  # said on the field of the way to connect
            if data.get("channel"):  # a channel: the bot's way
                raise ValidationError(token, "token")
            raise ValidationError(
                {"webhook_url": ["Paste the incoming webhook URL Slack gave you."], "token": [token]}
            )
        if given("webhook_url") and given("token"):
            raise ValidationError(
                "Use one way to connect: the incoming webhook URL, or the bot token and a channel.",
                "webhook_url",
            )
        if given("token") and not data.get("channel"):
            raise ValidationError("A bot token needs a channel to post to.", "channel")
