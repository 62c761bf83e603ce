"""The newer integrations pass the destination check too: SDK clients and webhooks alike refuse loopback."""

from __future__ import annotations

import pytest

from app.contract.testing import FakeHTTP, payload, run_plugin
from plugins.airtable import AirtablePlugin
from plugins.discord import DiscordPlugin
from plugins.hubspot import HubSpotPlugin
from plugins.teams import TeamsPlugin
from plugins.twilio_sms import TwilioSmsPlugin
from tests.plugins.peers.airtable import BASE
from tests.plugins.peers.airtable import TOKEN as AIRTABLE_TOKEN
from tests.plugins.peers.hubspot import TOKEN as HUBSPOT_TOKEN
from tests.plugins.peers.twilio import ACCOUNT_SID, AUTH_TOKEN, NUMBER

CASES = {
    "teams": (
        TeamsPlugin,
        None,
        lambda url: {"webhook_url": url + "/workflows/1/triggers/manual/paths/invoke"},
    ),
    "discord": (DiscordPlugin, None, lambda url: {"webhook_url": url + "/api/webhooks/1/abc"}),
    "twilio_sms": (
        TwilioSmsPlugin,
        "TWILIO_API_URL",
        lambda _: {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "from_number": NUMBER,
            "to": "+442079460018",
        },
    ),
    "airtable": (
        AirtablePlugin,
        "AIRTABLE_API_URL",
        lambda _: {"token": AIRTABLE_TOKEN, "base_id": BASE, "table": "T"},
    ),
    "hubspot": (HubSpotPlugin, "HUBSPOT_API_URL", lambda _: {"access_token": HUBSPOT_TOKEN}),
}


@pytest.mark.parametrize("plugin_id", sorted(CASES))
def test_it_refuses_a_loopback_destination_and_sends_nothing(plugin_id, fake_http: FakeHTTP):
    plugin_cls, base_setting, config_for = CASES[plugin_id]
    settings = {
        "ALLOW_PRIVATE_DESTINATIONS": False,
        **({base_setting: fake_http.url} if base_setting else {}),
    }
    attempt = run_plugin(plugin_cls(settings), config_for(fake_http.url), payload())
    assert attempt.error_type == "permanent"
    assert "private or loopback address" in attempt.error_message
    assert fake_http.requests == []
