"""The email integration's settings."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.contract import Secret, Template, selection_field
from plugins.email.addresses import is_template, parse_addresses

SECURITY = ("starttls", "ssl", "none")
DEFAULT_SUBJECT = "New submission: {{ form.name }}"
MAX_RECIPIENTS = 50  # per message, as configured and as rendered (to, cc and bcc together)
MAX_ATTACHMENTS = 5


def _static_addresses(entries: list[str]) -> None:
    """Entries without template syntax must be addresses already (templated ones are checked when sent)."""
    for entry in entries:
        if is_template(entry):
            continue
        valid, invalid = parse_addresses(entry)
        if invalid or not valid:
            raise ValidationError(f"{(invalid or [entry])[0]!r} is not an email address.")


def _one_address(value: str) -> None:
    valid, invalid = parse_addresses(value)
    if invalid or len(valid) != 1:
        raise ValidationError("Give one email address, e.g. Forms <forms@example.com>.")


def _recipients(description: str, min_count: int = 0, **kwargs: Any) -> fields.List:
    return fields.List(
        Template(widget="text"),
        validate=[validate.Length(min=min_count, max=MAX_RECIPIENTS), _static_addresses],
        metadata={"description": description},
        **kwargs,
    )


class EmailConfig(Schema):
    host = fields.String(
        required=True,
        validate=validate.Length(min=1, max=253),
        metadata={"description": "SMTP server, e.g. smtp.example.com"},
    )
    port = fields.Integer(
        load_default=587,
        validate=validate.Range(min=1, max=65535),
        metadata={"description": "587 for starttls, 465 for ssl, 25 for none"},
    )
    security = fields.String(
        load_default="starttls",
        validate=validate.OneOf(SECURITY),
        metadata={"description": "starttls (upgrade after connecting), ssl (TLS from the start) or none"},
    )
    username = fields.String(
        load_default=None, allow_none=True, metadata={"description": "Login; leave empty for none"}
    )
    password = Secret(
        # a new server, no TLS on the way, or another login (account) needs it typed again
        bound_to=("host", "port", "security", "username"),
        load_default=None,
        allow_none=True,
        metadata={"description": "Login password"},
    )
    from_address = fields.String(
        required=True,
        validate=_one_address,
        metadata={"description": "Sender, e.g. Forms <forms@example.com>"},
    )
    to = _recipients(
        "Recipients: addresses or templates such as {{ data.email }}",
        min_count=1,
        required=True,
    )
    cc = _recipients("Copy recipients", load_default=list)
    bcc = _recipients("Blind copy recipients", load_default=list)
    reply_to = Template(
        widget="text",
        load_default=None,
        allow_none=True,
        metadata={"description": "Reply-To, e.g. {{ data.email }}; skipped when it is not an address"},
    )
    subject = Template(
        widget="text", load_default=DEFAULT_SUBJECT, metadata={"description": "Subject template"}
    )
    body = Template(
        load_default=None,
        allow_none=True,
        metadata={"description": "Plain-text body template; empty lists every selected field"},
    )
    html = fields.Boolean(
        load_default=True,
        metadata={"description": "Add an HTML part: html_body, or a table of the fields when body is empty"},
    )
    html_body = Template(
        mode="html",
        load_default=None,
        allow_none=True,
        metadata={"description": "HTML body template (values are escaped)"},
    )
    attachments = fields.List(
        Template(widget="text"),
        load_default=list,
        validate=validate.Length(max=MAX_ATTACHMENTS),
        metadata={
            "description": "In a workflow: files earlier steps made, e.g. {{ steps.report.output.file_id }}"
        },
    )
    fields = selection_field()

    @validates_schema
    def _login(self, data: dict[str, Any], partial: Any = None, **_: Any) -> None:
        if data.get("password") and not data.get("username"):
            raise ValidationError("A password needs a username.", "username")
