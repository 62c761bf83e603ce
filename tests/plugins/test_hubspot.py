"""HubSpot CRM (hubspot-api-client) against a fake CRM API on loopback, through the plugin test kit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.contract.testing import check_plugin, payload, run_plugin
from plugins.hubspot import HubSpotPlugin
from tests.plugins.peers.http import Reply
from tests.plugins.peers.hubspot import TOKEN, FakeHubSpot

MAPPING = [{"field": "name", "property": "firstname"}, {"field": "message", "property": "message"}]


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    fake = FakeHubSpot()
    yield fake
    fake.close()


def plugin_for(hubspot: FakeHubSpot) -> HubSpotPlugin:
    return HubSpotPlugin({"ALLOW_PRIVATE_DESTINATIONS": True, "HUBSPOT_API_URL": hubspot.api_url})


def test_a_submission_creates_a_contact_with_the_mapped_properties(hubspot):
    attempt = run_plugin(plugin_for(hubspot), hubspot.config(properties=MAPPING), payload())
    assert list(hubspot.contacts.values()) == [
        {"email": "ada@example.com", "firstname": "Ada", "message": "Hi"}
    ]
    assert attempt.summary == "Created contact 101 (ada@example.com)"


def test_a_retry_or_an_edit_updates_the_same_contact_and_never_adds_one(hubspot):
    plugin, config = plugin_for(hubspot), hubspot.config(properties=MAPPING)
    run_plugin(plugin, config, payload(), job_id="j1")
    retried = run_plugin(plugin, config, payload(), job_id="j1", attempt=2)
    edited = run_plugin(
        plugin,
        config,
        payload({"name": "Ada", "email": "ada@example.com", "message": "Call me"}, event="response.edited"),
    )
    assert list(hubspot.contacts) == ["101"]
    assert hubspot.contacts["101"]["message"] == "Call me"
    assert retried.summary == edited.summary == "Updated contact 101 (ada@example.com)"


def test_a_deal_is_created_once_per_submission_even_when_the_job_is_retried(hubspot):
    plugin, config = plugin_for(hubspot), hubspot.config(create_deal=True)
    first = run_plugin(plugin, config, payload(), job_id="j1")
    again = run_plugin(plugin, config, payload(), job_id="j1", attempt=2)
    [deal] = hubspot.deals.values()
    assert deal == {
        "properties": {
            "dealname": "Contact: ada@example.com (sub1)",
            "dealstage": "appointmentscheduled",
            "pipeline": "default",
        },
        "contact": "101",
    }
    assert first.summary.endswith("deal 102 created") and again.summary.endswith("deal 102 already there")


def test_a_submission_without_an_email_fails_permanently_and_names_the_field(hubspot):
    attempt = run_plugin(plugin_for(hubspot), hubspot.config(email_field="mail"), payload())
    assert attempt.error_type == "permanent"
    assert "no e-mail address in the field 'mail'" in attempt.error_message
    assert hubspot.server.requests == []


@pytest.mark.parametrize(
    ("config", "reply", "error_type", "expected"),
    [
        ({"access_token": "pat-na1-wrong"}, None, "permanent", "HubSpot rejected the access token"),
        (
            {"properties": [{"field": "name", "property": "nickname"}]},
            None,
            "permanent",
            "PROPERTY_DOESNT_EXIST",
        ),
        (
            {},
            Reply(
                403,
                {
                    "status": "error",
                    "message": "This app hasn't been granted all required scopes",
                    "category": "MISSING_SCOPES",
                },
            ),
            "permanent",
            "crm.objects.contacts.write",
        ),
        (
            {},
            Reply(
                429,
                {
                    "status": "error",
                    "message": "You have reached your ten_secondly_rolling limit.",
                    "category": "RATE_LIMITS",
                },
            ),
            "retryable",
            "will retry in 10 s",
        ),
        ({}, Reply(502, "bad gateway"), "retryable", "HubSpot answered 502"),
    ],
)
def test_each_hubspot_error_is_classified_and_says_what_to_fix(hubspot, config, reply, error_type, expected):
    if reply:
        hubspot.script(reply)
    attempt = run_plugin(plugin_for(hubspot), hubspot.config(**config), payload())
    assert (attempt.status, attempt.error_type) == ("failed", error_type)
    assert expected in attempt.error_message
    assert attempt.request["properties"]["email"] == "ada@example.com"


def test_test_connection_checks_the_mapping_against_the_portal_and_writes_nothing(hubspot):
    result = check_plugin(
        HubSpotPlugin,
        hubspot.config(properties=MAPPING),
        hubspot.server,
        {"HUBSPOT_API_URL": hubspot.api_url},
    )
    assert result.message == "Every mapped property exists in HubSpot (3 checked). Nothing was written."
    assert hubspot.contacts == {}


def test_test_connection_names_unknown_and_read_only_properties(hubspot):
    plugin = plugin_for(hubspot)
    mapping = [{"field": "name", "property": "nickname"}, {"field": "email", "property": "hs_object_id"}]
    result = plugin.test_connection(plugin.config_schema().load(hubspot.config(properties=mapping)))
    assert not result.success
    assert "no writable contact property 'nickname', 'hs_object_id'" in result.message


def test_the_access_token_never_reaches_the_log(hubspot):
    attempts = [
        run_plugin(plugin_for(hubspot), hubspot.config(properties=m), payload())
        for m in ([{"field": "name", "property": "nickname"}], MAPPING)
    ]
    assert [a.status for a in attempts] == ["failed", "success"]
    assert [a.leaked for a in attempts] == [[], []]
    assert not [line for a in attempts for line in a.logs if TOKEN in line]
