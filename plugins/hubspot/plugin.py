"""HubSpot CRM: create or update a contact by e-mail for each submission, optionally with a deal."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from hubspot import HubSpot
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInputUpsert,
    SimplePublicObjectBatchInputUpsert,
)
from hubspot.crm.deals import PublicObjectSearchRequest, SimplePublicObjectInputForCreate

from app.contract import (
    ExecutionContext,
    ExecutionResult,
    Plugin,
    PluginError,
    RateLimit,
    TestResult,
    display_value,
    render,
    select_fields,
    template_context,
)
from plugins.hubspot.client import hubspot_client, hubspot_errors
from plugins.hubspot.config import DEFAULT_DEAL_NAME, HubSpotConfig

VERSION = "1.0.0"
SEND_TIMEOUT = 15.0
TEST_TIMEOUT = 10.0
DEAL_TO_CONTACT = 3  # HubSpot's association type id "deal to contact"


class HubSpotPlugin(Plugin):
    id = "hubspot"
    name = "HubSpot CRM"
    version = VERSION
    description = (
        "Create or update a HubSpot contact (found by e-mail) for each submission, optionally with a deal."
    )
    category = "crm"
    settings_keys = ("HUBSPOT_API_URL",)
    icon = "hubspot"
    triggers = ("form.submitted", "response.edited")
    config_schema = HubSpotConfig
    rate_limit = RateLimit(calls=30, period=10.0)  # up to 3 calls per job within HubSpot's 100 per 10 s

    def rate_limit_key(self, config: dict[str, Any]) -> str | None:
        return hashlib.sha256(config["access_token"].encode()).hexdigest()[:16]

    def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        config = ctx.config

        def timeout() -> float:  # per request: together they end by the deadline
            return min(SEND_TIMEOUT, ctx.time_left)

        properties = contact_properties(config, ctx.payload)
        client = hubspot_client(config["access_token"], self.settings)
        sent: dict[str, Any] = {"properties": properties}
        try:
            with hubspot_errors():
                # Upsert by e-mail: a retry, a resend or an edit updates the contact, never adds a second one.
                upsert = SimplePublicObjectBatchInputUpsert(
                    id_property="email", id=properties["email"], properties=properties
                )
                result = client.crm.contacts.batch_api.upsert(
                    BatchInputSimplePublicObjectBatchInputUpsert(inputs=[upsert]), _request_timeout=timeout()
                )
                contact = result.results[0]
                deal = None
                if config.get("create_deal") and ctx.event == "form.submitted":
                    sent["deal_name"] = deal_name = render(
                        config.get("deal_name") or DEFAULT_DEAL_NAME,
                        template_context(ctx.payload),
                        "text",
                        "deal name",
                    ).strip()
                    deal = self._deal(client, config, deal_name, contact.id, timeout)
        except PluginError as err:
            err.response = {**err.response, "request": sent}
            raise
        verb = "Created" if getattr(contact, "new", False) else "Updated"
        summary = f"{verb} contact {contact.id} ({properties['email']})"
        if deal:
            summary += f"; deal {deal[0]} {'created' if deal[1] else 'already there'}"
        ids = {"contact_id": contact.id, "deal_id": deal[0] if deal else None}
        output = {"id": contact.id, **ids, "email": properties["email"], "created": verb == "Created"}
        return ExecutionResult(summary, sent, ids, output)

    def _deal(
        self,
        client: HubSpot,
        config: dict[str, Any],
        name: str,
        contact_id: str,
        timeout: Callable[[], float],
    ) -> tuple[str, bool]:
        """The deal of this submission: found by name among the contact's deals (a retry), else created."""
        search = PublicObjectSearchRequest(
            filter_groups=[
                {
                    "filters": [
                        {"propertyName": "dealname", "operator": "EQ", "value": name},
                        {"propertyName": "associations.contact", "operator": "EQ", "value": contact_id},
                    ]
                }
            ],
            limit=1,
        )
        found = client.crm.deals.search_api.do_search(search, _request_timeout=timeout())
        if found.results:
            return found.results[0].id, False
        created = client.crm.deals.basic_api.create(
            SimplePublicObjectInputForCreate(
                properties={
                    "dealname": name,
                    "dealstage": config["deal_stage"],
                    "pipeline": config["pipeline"],
                },
                associations=[
                    {
                        "to": {"id": contact_id},
                        "types": [
                            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": DEAL_TO_CONTACT}
                        ],
                    }
                ],
            ),
            _request_timeout=timeout(),
        )
        return created.id, True

    def test_connection(self, config: dict[str, Any]) -> TestResult:
        """Reads the portal's contact properties: the token works and every mapped property can be written."""
        client = hubspot_client(config["access_token"], self.settings)
        try:
            with hubspot_errors():
                found = client.crm.properties.core_api.get_all(
                    object_type="contacts", _request_timeout=TEST_TIMEOUT
                )
        except PluginError as err:
            return TestResult(False, err.message, {"status_code": err.response.get("status_code")})
        writable = {
            p.name
            for p in found.results
            if not (p.modification_metadata and p.modification_metadata.read_only_value)
        }
        wanted = ["email"] + [c["property"] for c in config.get("properties") or []]
        missing = [name for name in wanted if name not in writable]
        details = {"properties": len(found.results)}
        if missing:
            return TestResult(
                False,
                f"HubSpot has no writable contact property {', '.join(map(repr, missing))}. Use the property's "
                "internal name (Settings › Properties), or create it.",
                details,
            )
        return TestResult(
            True,
            f"Every mapped property exists in HubSpot ({len(wanted)} checked). Nothing was written.",
            details,
        )


def contact_properties(config: dict[str, Any], payload: dict[str, Any]) -> dict[str, str]:
    """The contact's properties: its e-mail and each mapped field, as HubSpot's text values."""
    data = payload.get("data") or {}
    email = str(data.get(config.get("email_field") or "email") or "").strip()
    if "@" not in email:
        raise PluginError(
            f"The submission has no e-mail address in the field {config.get('email_field') or 'email'!r}, "
            "which HubSpot needs to find the contact. Set email_field to the form's e-mail field.",
            permanent=True,
        )
    properties = {"email": email}
    if config.get("properties"):
        for f in select_fields(payload, config["properties"], label_key="property"):
            properties[f.label] = str(display_value(f.value))
    return properties
