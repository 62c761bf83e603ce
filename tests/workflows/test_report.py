"""The scheduled report: at the fire time, yesterday's submissions of a form (in the schedule's time zone) as
a CSV attached to an e-mail; the host steps read only their workflow's workspace, within their caps."""

from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from bson import ObjectId

from app.engine import report_steps as report_module
from app.engine.host_steps import expire_files, save_file, with_files
from app.engine.report_steps import window_bounds
from app.engine.workflow_schedule import fire_due
from app.models import Submission, Workflow, WorkflowFile
from app.models.search_terms import sort_key
from tests.admin_api.conftest import people  # noqa: F401  (a fixture)
from tests.conftest import Api
from tests.plugins.conftest import certs, smtp, trust  # noqa: F401  (fixtures)
from tests.workflows.conftest import FIELDS, create_workflow, finished_run, runs_of

BERLIN = "Europe/Berlin"


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def _submission(
    form: dict, at: str, deleted: bool = False, email: str = "a@example.com", indexed: bool = True
) -> None:
    """A submission as the intake stores it (``indexed``: with its ``sort_key``; without, as stored before
    the search index)."""
    sub_id, created = ObjectId(), dt.datetime.fromisoformat(at)
    Submission._get_collection().insert_one(
        {
            "_id": sub_id,
            **({"sort_key": sort_key(created, sub_id)} if indexed else {}),
            "form_id": form["id"],
            "workspace_id": form.get("workspace_id"),
            "data": {"email": email, "name": "=cmd()"},
            "revision": 1,
            "deleted": deleted,
            "created_at": dt.datetime.fromisoformat(at),
            "updated_at": dt.datetime.fromisoformat(at),
        }
    )


def report_steps(form_id: str, mail: dict) -> list[dict]:
    return [
        {"name": "window", "plugin_id": "submissions_window", "config": {"form_id": form_id}},
        {
            "name": "report",
            "plugin_id": "submissions_csv",
            "config": {
                "form_id": "{{ steps.window.output.form_id }}",
                "since": "{{ steps.window.output.since }}",
                "until": "{{ steps.window.output.until }}",
                "filename": "leads-{{ steps.window.output.date }}.csv",
            },
        },
        {
            "name": "mail",
            "plugin_id": "email",
            "config": {
                **mail,
                "subject": "{{ steps.window.output.count }} leads on {{ steps.window.output.date }}",
                "body": "Attached: {{ steps.report.output.rows }} rows.",
                "attachments": ["{{ steps.report.output.file_id }}"],
            },
        },
    ]


@pytest.mark.parametrize("indexed", [True, False])
def test_the_scheduled_report_mails_yesterdays_submissions_in_the_schedules_zone_as_a_csv(
    make_app,
    smtp,  # noqa: F811
    indexed,
    monkeypatch,
):
    monkeypatch.setattr(report_module, "COUNT_PAGE", 2)  # (the window's 3 are counted over two reads)
    app = make_app(SCHEDULER_ENABLED=True, WORKFLOW_SCHEDULE_INTERVAL=3600)  # fired below, by a set clock
    api = Api(app.test_client())
    form = api.create_form("Leads", FIELDS)
    other = api.create_form("Other", FIELDS)
    # 1 June in Berlin (UTC+2) is 31 May 22:00 UTC to 1 June 22:00 UTC
    inside = ["2026-05-31T22:30:00", "2026-06-01T12:00:00", "2026-06-01T21:59:59"]
    for at in inside:
        _submission(form, at, indexed=indexed)
    for at in ("2026-05-31T21:59:59", "2026-06-01T22:00:00"):  # 23:59 on 31 May, 00:00 on 2 June in Berlin
        _submission(form, at, indexed=indexed)
    _submission(form, "2026-06-01T10:00:00", deleted=True, indexed=indexed)
    _submission(other, "2026-06-01T10:00:00", indexed=indexed)
    wf = create_workflow(
        api,
        {"type": "schedule", "cron": "0 8 * * *", "timezone": BERLIN},
        report_steps(form["id"], smtp.config()),
    )

    assert fire_due(app, _utc("2026-06-02T05:00:00")) == 0  # the next due time: 08:00 in Berlin
    assert fire_due(app, _utc("2026-06-02T06:00:01")) == 1
    [run] = runs_of(api, wf["id"])
    run = finished_run(api, run["id"])
    assert run["status"] == "succeeded", run
    [got] = smtp.wait_for(1)
    msg = got.message
    assert msg["Subject"] == "3 leads on 2026-06-01"
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "leads-2026-06-01.csv"
    rows = list(csv.reader(io.StringIO(attachment.get_content().lstrip("\ufeff"))))
    assert rows[0][:4] == ["id", "form", "received_at", "revision"] and "email" in rows[0]
    assert len(rows) == 1 + len(inside)
    assert [r[2][:16] for r in rows[1:]] == ["2026-06-01T00:30", "2026-06-01T14:00", "2026-06-01T23:59"]
    assert {r[rows[0].index("name")] for r in rows[1:]} == {"'=cmd()"}  # a formula stays text
    assert run["steps"][1]["output"]["rows"] == 3
    assert "Attached: 3 rows." in msg.get_body(("plain",)).get_content()


@pytest.mark.parametrize(
    ("window", "at", "since", "until"),
    [
        ("yesterday", "2026-03-30T06:00:00", "2026-03-28T23:00:00", "2026-03-29T22:00:00"),  # 23 hours (DST)
        ("today", "2026-06-02T06:00:00", "2026-06-01T22:00:00", "2026-06-02T22:00:00"),
        ("last_24_hours", "2026-06-02T06:00:00", "2026-06-01T06:00:00", "2026-06-02T06:00:00"),
        ("last_week", "2026-06-03T06:00:00", "2026-05-24T22:00:00", "2026-05-31T22:00:00"),
    ],
)
def test_a_window_follows_the_zones_midnights(window, at, since, until):
    found = window_bounds(window, _utc(at), ZoneInfo(BERLIN))
    assert found == (_utc(since), _utc(until))


@pytest.fixture
def two_workspaces(api, people):  # noqa: F811
    ws_b = people.workspace("B")
    b = people.member("b@example.com", {ws_b: "owner"})
    mine = api.create_form("Mine", FIELDS)
    theirs = b.api.create_form("Theirs", FIELDS)
    return {"api": api, "b": b.api, "mine": mine, "theirs": theirs}


@pytest.mark.parametrize("form_id", ["theirs", "missing", "not an id", ""])
@pytest.mark.parametrize("plugin_id", ["submissions_window", "submissions_csv"])
def test_a_report_step_naming_a_form_of_another_workspace_is_refused_at_save(
    two_workspaces, form_id, plugin_id
):
    named = {"theirs": two_workspaces["theirs"]["id"], "missing": str(ObjectId())}.get(form_id, form_id)
    config = {"form_id": named, "since": "2026-06-01T00:00:00Z", "until": "2026-06-02T00:00:00Z"}
    resp = two_workspaces["api"].post(
        "/api/workflows",
        {
            "name": "r",
            "trigger": {"type": "manual"},
            "steps": [{"name": "s", "plugin_id": plugin_id, "config": config}],
        },
    )
    assert resp.status_code == 422, resp.json
    assert "steps.0.config" in resp.json["error"]["details"]
    assert Workflow.objects.count() == 0


def test_a_templated_form_of_another_workspace_fails_the_step_when_it_runs(two_workspaces, make_app):
    api = two_workspaces["api"]
    steps = [
        {
            "name": "report",
            "plugin_id": "submissions_csv",
            "config": {
                "form_id": "{{ data.form }}",
                "since": "2026-06-01T00:00:00Z",
                "until": "2026-06-02T00:00:00Z",
            },
        }
    ]
    wf = create_workflow(api, {"type": "manual"}, steps)
    _submission({**two_workspaces["theirs"], "workspace_id": None}, "2026-06-01T10:00:00")
    live = Api(make_app(SCHEDULER_ENABLED=True).test_client())
    started = live.post(f"/api/workflows/{wf['id']}/run", {"data": {"form": two_workspaces["theirs"]["id"]}})
    assert started.status_code == 202, started.json
    run = finished_run(live, started.json["id"])
    assert run["status"] == "failed"
    assert "No form of this workflow's workspace" in run["steps"][0]["error"]
    assert WorkflowFile.objects.count() == 0


def test_more_rows_than_the_cap_fail_the_step_saying_so(api, make_app):
    form = api.create_form("Leads", FIELDS)
    for at in ("2026-06-01T10:00:00", "2026-06-01T11:00:00", "2026-06-01T12:00:00"):
        _submission(form, at)
    config = {"form_id": form["id"], "since": "2026-06-01T00:00:00Z", "until": "2026-06-02T00:00:00Z"}
    steps = [{"name": "report", "plugin_id": "submissions_csv", "config": {**config, "max_rows": 2}}]
    wf = create_workflow(api, {"type": "manual"}, steps)
    live = Api(make_app(SCHEDULER_ENABLED=True).test_client())
    run = finished_run(live, live.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).json["id"])
    assert run["status"] == "failed" and "More than 2 submissions" in run["steps"][0]["error"]
    steps[0]["config"]["max_rows"] = 3
    assert api.patch(f"/api/workflows/{wf['id']}", {"steps": steps}).status_code == 200
    run = finished_run(live, live.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).json["id"])
    assert run["status"] == "succeeded" and run["steps"][0]["output"]["rows"] == 3


def test_a_later_step_is_sent_only_files_of_its_own_workspace(api):
    mine = save_file(str(ObjectId()), "ws-a", "a.csv", "text/csv", b"a\n")
    theirs = save_file(str(ObjectId()), "ws-b", "b.csv", "text/csv", b"b\n")
    payload = {"steps": {"one": {"output": mine}, "two": {"output": theirs}}}
    sent = with_files(payload, "ws-a")
    assert list(sent["files"]) == [mine["file_id"]]
    assert with_files(payload, None) == payload
    assert with_files(payload, "ws-c")["files"] == {}


def test_an_attachment_naming_no_file_of_the_run_fails_the_mail(api, make_app, smtp):  # noqa: F811
    steps = [
        {
            "name": "mail",
            "plugin_id": "email",
            "config": {**smtp.config(), "attachments": ["{{ data.file }}"]},
        }
    ]
    wf = create_workflow(api, {"type": "manual"}, steps)
    stray = save_file(str(ObjectId()), "another", "x.csv", "text/csv", b"x\n")
    live = Api(make_app(SCHEDULER_ENABLED=True).test_client())
    started = live.post(f"/api/workflows/{wf['id']}/run", {"data": {"file": stray["file_id"]}})
    run = finished_run(live, started.json["id"])
    assert run["status"] == "failed" and "no file an earlier step" in run["steps"][0]["error"]
    assert smtp.messages == []


@pytest.mark.parametrize(
    ("plugin_id", "bad"),
    [
        ("submissions_window", {"window": "fortnight"}),
        ("submissions_window", {"timezone": "Mars/Olympus"}),
        ("submissions_csv", {"max_rows": 0}),
        ("submissions_csv", {"max_rows": 50_001}),
        ("submissions_csv", {"filename": ""}),
        ("submissions_csv", {"since": None}),
    ],
)
def test_a_report_step_with_a_bad_setting_is_a_422_and_nothing_is_saved(api, plugin_id, bad):
    form = api.create_form("Leads", FIELDS)
    config = {"form_id": form["id"], "since": "2026-06-01T00:00:00Z", "until": "2026-06-02T00:00:00Z", **bad}
    wf = create_workflow(api, {"type": "manual"}, [])
    resp = api.patch(f"/api/workflows/{wf['id']}", {"steps": [{"name": "s", "plugin_id": plugin_id, "config": config}]})
    assert resp.status_code == 422, resp.json
    assert "steps.0.config" in resp.json["error"]["details"]
    stored = Workflow.objects.get(id=wf["id"])
    assert (stored.steps, stored.version) == ([], 1)


def test_a_window_steps_preview_shows_its_times_for_sample_data(api):
    form = api.create_form("Leads", FIELDS)
    steps = [{"name": "window", "plugin_id": "submissions_window", "config": {"form_id": form["id"]}}]
    wf = create_workflow(api, {"type": "manual"}, steps)
    body = {"step": "window", "data": {"fire_time": "2026-06-02T06:00:00.000Z", "timezone": BERLIN}}
    resp = api.post(f"/api/workflows/{wf['id']}/preview", body)
    assert resp.status_code == 200, resp.json
    assert resp.json["preview"] == {"since": "2026-05-31T22:00:00.000Z", "until": "2026-06-01T22:00:00.000Z"}


def test_step_files_are_deleted_after_a_week(api):
    kept = save_file(str(ObjectId()), "ws-a", "new.csv", "text/csv", b"x\n")
    old = save_file(str(ObjectId()), "ws-a", "old.csv", "text/csv", b"y\n")
    doc = WorkflowFile._get_collection().find_one({"_id": ObjectId(old["file_id"])})
    WorkflowFile._get_collection().replace_one({"_id": doc["_id"]}, {**doc, "created_at": dt.datetime(2026, 1, 1)})
    assert isinstance(WorkflowFile._get_collection().find_one({"_id": doc["_id"]})["created_at"], dt.datetime)
    assert expire_files(dt.datetime(2026, 1, 9, tzinfo=dt.UTC)) == 1
    assert [str(f["_id"]) for f in WorkflowFile._get_collection().find({}, {"_id": 1})] == [kept["file_id"]]
