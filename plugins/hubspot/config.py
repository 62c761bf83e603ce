"""The HubSpot integration's settings: a private app token, the e-mail field, property mapping, an optional deal."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.contract import Secret, Template, selection_field

DEFAULT_DEAL_NAME = "{{ form.name }}: {{ data.email }} ({{ submission.id }})"


class HubSpotConfig(Schema):
    access_token = Secret(
        standalone=True,  # it only goes to HUBSPOT_API_URL, which takes the account from the token
        required=True,
        validate=validate.Regexp(
            r"^pat-[a-z0-9]+-[\w-]+$", error="A private app access token starts with pat-."
        ),
        metadata={
            "description": "A private app's access token (scopes crm.objects.contacts.write, crm.schemas.contacts.read)"
        },
    )
    email_field = fields.String(
        load_default="email",
        metadata={"description": "The form field holding the contact's e-mail (contacts are found by it)"},
    )
    properties = selection_field(
        "property",
        metadata={
            "description": "Form fields as {field, property}: the HubSpot contact property each goes to"
        },
    )
    create_deal = fields.Boolean(
        load_default=False,
        metadata={"description": "Also create a deal associated with the contact (once per submission)"},
    )
    deal_name = Template(
        load_default=DEFAULT_DEAL_NAME,
        widget="text",
        metadata={"description": "The deal's name (a template); it identifies the deal on retries"},
    )
    deal_stage = fields.String(
        load_default="appointmentscheduled", metadata={"description": "Internal name of the deal's stage"}
    )
    pipeline = fields.String(
        load_default="default", metadata={"description": "Internal name of the deal's pipeline"}
    )

    @validates_schema
    def _mapping(self, data: dict[str, Any], **_: Any) -> None:
        for choice in data.get("properties") or []:
            if not choice.get("property"):
                raise ValidationError(f"Name the HubSpot property for {choice['field']!r}.", "properties")
