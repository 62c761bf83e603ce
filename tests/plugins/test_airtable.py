"""Airtable (pyairtable) against a fake Airtable Web API on loopback, through the plugin test kit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.contract.testing import check_plugin, payload, run_plugin
from plugins.airtable import AirtablePlugin
from tests.plugins.conftest import finished_job
from tests.plugins.peers.airtable import TOKEN, FakeAirtable
from tests.plugins.peers.http import Reply
from tests.support.wait import wait_until


@pytest.fixture
def airtable() -> Iterator[FakeAirtable]:
    fake = FakeAirtable()
    yield fake
    fake.close()


def plugin_for(airtable: FakeAirtable) -> AirtablePlugin:
    return AirtablePlugin({"ALLOW_PRIVATE_DESTINATIONS": True, "AIRTABLE_API_URL": airtable.api_url})


def test_a_submission_becomes_one_record_with_its_id(airtable):
    attempt = run_plugin(plugin_for(airtable), airtable.config(), payload())
    assert airtable.rows() == [
        {"Submission ID": "sub1", "Your name": "Ada", "E-mail": "ada@example.com", "Message": "Hi"}
    ]
    assert attempt.summary.startswith("Created record rec") and attempt.response["created"] is True


def test_a_retried_or_resent_submission_updates_its_record_instead_of_adding_one(airtable):
    plugin = plugin_for(airtable)
    first = run_plugin(plugin, airtable.config(), payload(), job_id="j1")
    again = run_plugin(plugin, airtable.config(), payload(), job_id="j1", attempt=2)
    assert len(airtable.records) == 1
    assert again.summary == first.summary.replace("Created", "Updated")


def test_an_edit_updates_the_record_and_a_delete_removes_it(airtable):
    plugin, config = plugin_for(airtable), airtable.config(columns=[{"field": "name", "column": "Name"}])
    for sub in ("s1", "s2"):
        run_plugin(plugin, config, payload({"name": sub}, submission_id=sub))
    run_plugin(
        plugin,
        config,
        payload({"name": "s1, edited"}, event="response.edited", submission_id="s1", revision=2),
    )
    assert sorted(r["Name"] for r in airtable.rows()) == ["s1, edited", "s2"]

    deleted = run_plugin(plugin, config, payload(event="response.deleted", submission_id="s2"))
    again = run_plugin(plugin, config, payload(event="response.deleted", submission_id="s2"))
    assert [r["Submission ID"] for r in airtable.rows()] == ["s1"]
    assert deleted.summary.startswith("Deleted record rec")
    assert again.summary == "No record of submission s2; nothing to delete"


@pytest.mark.parametrize(
    ("config", "reply", "error_type", "expected"),
    [
        ({"token": "patWrongToken.000000"}, None, "permanent", "Airtable rejected the token"),
        (
            {"base_id": "appOTHERBASE00001"},
            None,
            "permanent",
            "give the token data.records:write on this base",
        ),
        ({"table": "Nope"}, None, "permanent", "cannot find table 'Nope'"),
        (
            {"columns": [{"field": "name", "column": "Full name"}]},
            None,
            "permanent",
            'Unknown field name: "Full name"',
        ),
        ({}, Reply(429, {"errors": [{"error": "RATE_LIMIT_REACHED"}]}), "retryable", "will retry in 30 s"),
        ({}, Reply(503, "unavailable"), "retryable", "Airtable answered 503"),
    ],
)
def test_each_airtable_error_is_classified_and_says_what_to_fix(
    airtable, config, reply, error_type, expected
):
    if reply:
        airtable.script(reply)
    attempt = run_plugin(plugin_for(airtable), airtable.config(**config), payload())
    assert (attempt.status, attempt.error_type) == ("failed", error_type)
    assert expected in attempt.error_message
    if reply and reply.status == 429:
        assert attempt.retry_after == 30


def test_test_connection_reads_the_schema_and_writes_nothing(airtable):
    result = check_plugin(
        AirtablePlugin, airtable.config(), airtable.server, {"AIRTABLE_API_URL": airtable.api_url}
    )
    assert result.message == "The table 'Responses' is ready. Nothing was written."
    assert airtable.records == {}


def test_test_connection_names_the_columns_the_table_lacks(airtable):
    airtable.columns.remove("Submission ID")
    plugin = plugin_for(airtable)
    config = airtable.config(columns=[{"field": "email", "column": "Email"}])
    result = plugin.test_connection(plugin.config_schema().load(config))
    assert not result.success
    assert "has no field 'Submission ID', 'Email'. Add them in Airtable" in result.message


def test_test_connection_says_when_the_table_does_not_exist(airtable):
    plugin = plugin_for(airtable)
    result = plugin.test_connection(plugin.config_schema().load(airtable.config(table="Nope")))
    assert not result.success and "has no table 'Nope'" in result.message


def test_the_token_never_reaches_the_log(airtable):
    attempts = [
        run_plugin(plugin_for(airtable), airtable.config(table=t), payload()) for t in ("Nope", "Responses")
    ]
    assert [a.status for a in attempts] == ["failed", "success"]
    assert [a.leaked for a in attempts] == [[], []]
    assert not [line for a in attempts for line in a.logs if TOKEN in line]


def test_records_follow_submissions_through_the_engine(airtable, live_api_with):
    api = live_api_with(AIRTABLE_API_URL=airtable.api_url)
    form = api.create_form(
        "Contact", [{"name": "email", "label": "E-mail"}, {"name": "message", "label": "Message"}]
    )
    config = airtable.config()
    api.add_plugin(
        form["id"],
        "airtable",
        config,
        trigger_events=["form.submitted", "response.edited", "response.deleted"],
    )

    first = api.submit(form["id"], {"email": "ada@example.com", "message": "Hi"})
    second = api.submit(form["id"], {"email": "bob@example.com", "message": "Hello"})
    assert [finished_job(api, j)["status"] for j in first["jobs"] + second["jobs"]] == ["completed"] * 2
    resent = first["jobs"][0]
    assert api.post(f"/api/jobs/{resent}/retry").status_code == 200  # like a retry after a crash
    wait_until(lambda: len(api.job(resent)["logs"]) == 2, what="the resend")
    summaries = [row["summary"] for row in sorted(finished_job(api, resent)["logs"], key=lambda r: r["attempt"])]
    assert summaries[0].startswith("Created record rec") and summaries[1].startswith("Updated record rec")

    edited = api.patch(
        f"/api/submissions/{first['id']}", {"data": {"email": "ada@example.org", "message": "Hi"}}
    ).json
    deleted = api.delete(f"/api/submissions/{second['id']}").json
    assert [finished_job(api, j)["status"] for j in edited["jobs"] + deleted["jobs"]] == ["completed"] * 2
    assert airtable.rows() == [{"Submission ID": first["id"], "E-mail": "ada@example.org", "Message": "Hi"}]
