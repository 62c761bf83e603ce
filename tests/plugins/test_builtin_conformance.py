"""The older built-in plugins pass the kit's conformance check too, Test connection included."""

from __future__ import annotations

from app.contract.testing import check_plugin
from plugins.google_sheets import GoogleSheetsPlugin
from plugins.slack import SlackPlugin
from tests.plugins.peers.slack import TOKEN

SLACK_READS = {"POST /api/auth.test", "POST /api/conversations.info", "POST /api/conversations.list"}


def test_slacks_bot_test_connection_only_reads(slack):
    result = check_plugin(
        SlackPlugin,
        {"token": TOKEN, "channel": "#forms"},
        slack.server,
        {"SLACK_API_URL": slack.api_url},
        SLACK_READS,
    )
    assert result.message.endswith("Nothing was posted.")
    assert slack.posts == []


def test_google_sheets_test_connection_only_reads(google):
    key = "1AbCdEfGhIjKlMnOpQrStUvWxYz"
    email = "forms@acme-project.iam.gserviceaccount.com"
    book = google.spreadsheet(key, editors=[email])
    config = {"service_account_json": google.service_account(email), "spreadsheet": key}
    result = check_plugin(
        GoogleSheetsPlugin, config, google.server, {"GOOGLE_SHEETS_API_URL": google.api_url}, {"POST /token"}
    )
    assert result.success and book.sheets[0].values() == []
