"""A report step's file holds submissions' data, so it goes with them: an erasure of an address removes the
workspace's files holding it, and a form's retention the files holding a submission past it."""

from __future__ import annotations

import datetime as dt

import pytest
from bson import ObjectId

from app.engine import operations, retention
from app.engine.host_steps import save_file
from app.engine.queue import JobQueue
from app.engine.runner import run_one
from app.models import Submission, WorkflowFile, utcnow
from tests.conftest import Api
from tests.workflows.conftest import FIELDS, create_workflow


def _submit(form: dict, email: str, at: dt.datetime) -> None:
    Submission._get_collection().insert_one(
        {
            "form_id": form["id"],
            "workspace_id": form["workspace_id"],
            "data": {"email": email, "name": "x"},
            "revision": 1,
            "deleted": False,
            "created_at": at,
            "updated_at": at,
        }
    )


def _report(app, api: Api, form: dict, since: dt.datetime, until: dt.datetime) -> str:
    """The id of the CSV file a report step made of ``form``'s submissions in [since, until)."""
    config = {"form_id": form["id"], "since": since.isoformat() + "Z", "until": until.isoformat() + "Z"}
    wf = create_workflow(
        api, {"type": "manual"}, [{"name": "csv", "plugin_id": "submissions_csv", "config": config}]
    )
    api.post(f"/api/workflows/{wf['id']}/run", {"data": {}})
    [job] = JobQueue("me", lease_seconds=30).claim(10)
    assert run_one(app, job)["status"] == "completed"
    return str(job["_id"])


def _files() -> set[str]:
    return {str(f["_id"]) for f in WorkflowFile._get_collection().find({}, {"_id": 1})}


def _erase(api: Api, workspace_id: str, identifier: str) -> None:
    resp = api.post(f"/api/workspaces/{workspace_id}/erasures", {"identifier": identifier})
    assert resp.status_code == 202, resp.json
    while (step := operations.step("test", 30.0, 2, 10**9, 5)).done or step.prepared:
        pass


@pytest.mark.parametrize(
    ("identifier", "erased"),
    [
        ("ada@example.com", {"ada", "both"}),
        ("ADA@Example.COM", {"ada", "both"}),
        ("bob@example.com", {"bob", "both"}),
        ("da@example.com", set()),  # (not a whole address in any file)
    ],
)
def test_an_erasure_removes_the_workspaces_report_files_holding_the_address(app, api, identifier, erased):
    form = api.create_form("Leads", FIELDS)
    day = dt.datetime(2026, 6, 1)
    made: dict[str, str] = {}
    for name, emails in {
        "ada": ["ada@example.com"],
        "bob": ["bob@example.com"],
        "both": ["ada@example.com", "bob@example.com"],
    }.items():
        start = day + dt.timedelta(days=len(made))
        for i, email in enumerate(emails):
            _submit(form, email, start + dt.timedelta(hours=i + 1))
        made[name] = _report(app, api, form, start, start + dt.timedelta(days=1))
    elsewhere = save_file(
        str(ObjectId()), "another-workspace", "x.csv", "text/csv", b"ada@example.com,bob@example.com\n"
    )

    _erase(api, form["workspace_id"], identifier)

    assert _files() == {made[n] for n in made if n not in erased} | {elsewhere["file_id"]}


@pytest.mark.parametrize(("days_old", "kept"), [(40, False), (31, False), (29, True), (1, True)])
def test_retention_removes_a_forms_report_files_holding_a_submission_past_it(app, api, days_old, kept):
    form = api.create_form("Leads", FIELDS)
    other = api.create_form("No retention", FIELDS)
    assert api.patch(f"/api/forms/{form['id']}", {"retention_days": 30}).status_code == 200
    received = utcnow().replace(microsecond=0) - dt.timedelta(days=days_old)
    window = (received - dt.timedelta(hours=1), utcnow() + dt.timedelta(hours=1))
    young = received + dt.timedelta(days=days_old - 1)  # a day old: within any retention
    for f in (form, other):
        _submit(f, "ada@example.com", received)
        _submit(f, "bob@example.com", young)
    file_id, others = _report(app, api, form, *window), _report(app, api, other, *window)

    retention.run_pass(batch=10, share=1.0, seconds=30.0)

    assert _files() == ({file_id} if kept else set()) | {others}
