"""Every integration's connections pass the webhook's destination check (ALLOW_PRIVATE_DESTINATIONS)."""

from __future__ import annotations

import pytest

from app.contract import PluginError
from plugins.email import EmailPlugin
from plugins.google_sheets import GoogleSheetsPlugin
from plugins.slack import SlackPlugin
from tests.plugins.conftest import payload, run_plugin
from tests.plugins.peers.slack import TOKEN

GUARDED = {"ALLOW_PRIVATE_DESTINATIONS": False}


def assert_refused(plugin, config) -> None:
    with pytest.raises(PluginError) as err:
        run_plugin(plugin, config, payload())
    assert err.value.permanent
    assert "private or loopback address" in err.value.message


def test_email_refuses_a_loopback_smtp_server(smtp):
    assert_refused(EmailPlugin(GUARDED), smtp.config())
    assert smtp.commands == [] and smtp.logins == []


def test_slack_refuses_a_loopback_api_and_webhook(slack):
    assert_refused(
        SlackPlugin({**GUARDED, "SLACK_API_URL": slack.api_url}), {"token": TOKEN, "channel": "#forms"}
    )
    assert_refused(SlackPlugin(GUARDED), {"webhook_url": slack.hook_url})
    assert slack.server.requests == []


def test_google_sheets_refuses_a_loopback_token_endpoint(google):
    google.spreadsheet("1AbCdEfGhIjKlMnOpQrStUvWxYz", editors=["forms@acme-project.iam.gserviceaccount.com"])
    plugin = GoogleSheetsPlugin({**GUARDED, "GOOGLE_SHEETS_API_URL": google.api_url})
    config = {"service_account_json": google.service_account(), "spreadsheet": "1AbCdEfGhIjKlMnOpQrStUvWxYz"}
    assert_refused(plugin, config)
    assert google.server.requests == []
