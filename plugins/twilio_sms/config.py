"""The Twilio SMS integration's settings: the account, a sender, the recipient and the message templates."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from app.contract import Secret, Template, selection_field
from plugins.twilio_sms.sms import e164

DEFAULT_BODY = """{{ event_title }}: {{ form.name }}
{% for f in fields %}{{ f.label }}: {{ f.value }}
{% endfor %}"""


class TwilioSmsConfig(Schema):
    account_sid = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^AC[0-9a-fA-F]{32}$", error="An Account SID starts with AC and has 34 characters."
        ),
        metadata={"description": "Account SID (AC…), from the Twilio Console"},
    )
    auth_token = Secret(
        bound_to=("account_sid",),  # the token proves this account; senders are the account's own
        required=True,
        validate=validate.Length(min=16),
        metadata={"description": "The account's Auth Token (stored encrypted)"},
    )
    from_number = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "Sender: a Twilio number of the account in E.164 (+14155550100)"},
    )
    messaging_service_sid = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^MG[0-9a-fA-F]{32}$", error="A Messaging Service SID starts with MG."),
        metadata={"description": "Sender instead of from_number: a Messaging Service SID (MG…)"},
    )
    to = Template(
        required=True,
        widget="text",
        metadata={"description": "Recipient in E.164, or a template such as {{ data.phone }}"},
    )
    body = Template(load_default=DEFAULT_BODY, metadata={"description": "The message (a template)"})
    max_segments = fields.Integer(
        load_default=4,
        validate=validate.Range(min=1, max=10),
        metadata={"description": "Refuse to send a message longer than this many SMS segments"},
    )
    fields = selection_field()

    @validates("from_number")
    def _from(self, value: str | None, **_: Any) -> None:
        if value:
            try:
                e164(value)
            except ValueError as exc:
                raise ValidationError(str(exc)) from None

    @validates("to")
    def _to(self, value: str, **_: Any) -> None:
        if "{" not in value:  # a fixed number is checked now; a template when it is rendered
            try:
                e164(value)
            except ValueError as exc:
                raise ValidationError(str(exc)) from None

    @validates_schema
    def _sender(self, data: dict[str, Any], **_: Any) -> None:
        if bool(data.get("from_number")) == bool(data.get("messaging_service_sid")):
            raise ValidationError("Give either from_number or messaging_service_sid.", "from_number")
