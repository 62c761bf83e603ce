"""Plugins return structured output beside their summary; the host keeps it within OUTPUT_LIMIT."""

from __future__ import annotations

from typing import Any, ClassVar

import marshmallow
import pytest

from app.contract import ExecutionContext, ExecutionResult, Plugin, TestResult
from app.contract.base import OUTPUT_LIMIT
from app.contract.testing import payload, run_plugin
from plugins.hubspot import HubSpotPlugin
from plugins.slack import SlackPlugin
from tests.plugins.conftest import SETTINGS
from tests.plugins.peers.slack import TOKEN


class _Empty(marshmallow.Schema):
    pass


class Returns(Plugin):
    """Returns what ``value`` holds as its output."""

    id = "returns"
    name = "Returns"
    config_schema = _Empty
    value: ClassVar[Any] = None

    def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        return ExecutionResult("done", output=self.value)

    def test_connection(self, config: dict[str, Any]) -> TestResult:
        return TestResult(True, "ok")




def test_hubspot_returns_the_contact_it_created_or_updated(hubspot):
    plugin = HubSpotPlugin({**SETTINGS, "HUBSPOT_API_URL": hubspot.api_url})
    first = run_plugin(plugin, hubspot.config(), payload())
    again = run_plugin(plugin, hubspot.config(), payload())
    [contact_id] = hubspot.contacts
    assert first.output_data == {
        "id": contact_id,
        "contact_id": contact_id,
        "deal_id": None,
        "email": "ada@example.com",
        "created": True,
    }
    assert (again.output_data["id"], again.output_data["created"]) == (contact_id, False)


def test_slack_returns_the_channel_and_timestamp_of_its_message(slack):
    plugin = SlackPlugin({**SETTINGS, "SLACK_API_URL": slack.api_url})
    attempt = run_plugin(plugin, {"token": TOKEN, "channel": "#forms"}, payload())
    [post] = slack.posts
    assert attempt.output_data == {"posted": True, "channel": "C0000001", "ts": post["ts"]}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"blob": "x" * OUTPUT_LIMIT}, "over the limit of 65,536"),
        ({"when": object()}, "not JSON"),
        ({"n": float("nan")}, "not JSON"),
        (["a", "list"], "not an object"),
    ],
)
def test_an_output_too_large_or_not_json_fails_the_attempt_for_good(value, reason):
    Returns.value = value
    attempt = run_plugin(Returns, {}, payload())
    assert (attempt.status, attempt.error_type) == ("failed", "permanent")
    assert reason in attempt.error_message


@pytest.mark.parametrize("value", [{}, {"id": "1", "nested": {"list": [1, 2.5, None, True]}}])
def test_an_output_within_the_limit_is_kept_as_given(value):
    Returns.value = value
    attempt = run_plugin(Returns, {}, payload())
    assert (attempt.status, attempt.output_data) == ("success", value)
