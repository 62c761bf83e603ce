"""A workflow step's job has a page (/admin/jobs/<id>) whatever started its run, in its workspace only."""

from __future__ import annotations

import datetime as dt

import pytest
from bson import ObjectId

from app.engine.workflow_schedule import fire_due
from app.models import WorkflowRun
from tests.admin_api.conftest import People
from tests.workflows.conftest import FIELDS, create_workflow

HOOK = [{"name": "notify", "plugin_id": "webhook", "config": {"url": "http://127.0.0.1:9/x"}}]


def _started(api, app, kind: str) -> dict:
    """A run of a workflow with a trigger of ``kind``, its first step's job written (no scheduler runs it)."""
    if kind == "form_event":
        form = api.create_form("Leads", FIELDS)
        wf = create_workflow(api, {"type": "form_event", "form_id": form["id"]}, HOOK)
        api.submit(form["id"], {"email": "ada@example.com"})
    elif kind == "schedule":
        wf = create_workflow(api, {"type": "schedule", "cron": "0 8 * * *"}, HOOK)
        with app.app_context():
            fire_due(app, dt.datetime(2026, 6, 1, 7, tzinfo=dt.UTC))
            fire_due(app, dt.datetime(2026, 6, 1, 8, 0, 1, tzinfo=dt.UTC))
    elif kind == "inbound":
        wf = create_workflow(api, {"type": "inbound"}, HOOK)
        assert api.post(wf["inbound_path"], {"email": "ada@example.com"}).status_code == 202
    else:
        wf = create_workflow(api, {"type": "manual"}, HOOK)
        api.post(f"/api/workflows/{wf['id']}/run", {"data": {}})
    run = WorkflowRun.objects.get(workflow_id=wf["id"])
    return {"wf": wf, "run": run, "job_id": run.records["notify"]["job_id"]}


@pytest.mark.parametrize("kind", ["manual", "schedule", "inbound", "form_event"])
def test_a_step_jobs_page_names_its_workflow_step_and_links_its_run(api, app, owner, kind):
    got = _started(api, app, kind)
    resp = owner.get(f"/admin/jobs/{got['job_id']}")
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "Lead flow: step notify" in page
    assert f"/admin/workflow-runs/{got['run'].id}" in page
    assert f"run:{got['run'].id}:0" in page  # its delivery id


@pytest.mark.parametrize("kind", ["manual", "schedule"])
def test_another_workspaces_step_job_page_is_404(api, app, owner, kind):
    people = People(app)
    b = people.member("b@example.com", {people.workspace("B"): "owner"})
    got = _started(b.api, app, kind)
    assert owner.get(f"/admin/jobs/{got['job_id']}").status_code == 404
    assert owner.get(f"/admin/jobs/{ObjectId()}").status_code == 404
    assert owner.get("/admin/jobs/not-an-id").status_code == 404
