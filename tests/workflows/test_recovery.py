"""Where the intake's ordered write may stop part-way (MongoDB: the submission carries its pending-event
marker), the crash sweep starts the form event's workflow runs that were not written, once."""

from __future__ import annotations

import datetime as dt

import pytest
from pymongo.errors import AutoReconnect

from app.engine import dispatch
from app.engine.workflow_runs import runs
from app.engine.write_unit import WriteUnit
from app.models import PluginJob, Submission, WorkflowRun
from app.services import services
from app.store.traits import MONGODB
from tests.conftest import Api
from tests.workflows.conftest import FIELDS, create_workflow


def _hook(name: str, url: str) -> list[dict]:
    return [{"name": name, "plugin_id": "webhook", "config": {"url": url}}]


@pytest.fixture
def marker_path(make_app, sink):
    """An app whose intake writes with markers (as on MongoDB), a form with an integration and two active
    form-event workflows."""
    app = make_app()
    services(app).inserts.submissions.group._traits = MONGODB  # as MongoDB answers: no all-or-nothing write
    api = Api(app.test_client())
    form = api.create_form("Leads", FIELDS)
    api.add_plugin(form["id"], "webhook", {"url": f"{sink.url}/integration"})
    trigger = {"type": "form_event", "form_id": form["id"]}
    flows = [create_workflow(api, trigger, _hook(n, f"{sink.url}/{n}")) for n in ("one", "two")]
    return app, api, form, flows


def _stopping(monkeypatch, where: str) -> None:
    """From now on the intake's write stops (the process died) right after the submission, before the first
    run, or after everything: what came before is written, with its marker, and nothing settles. (The
    order of the integrations' jobs and the runs in the write is not fixed.)"""

    def commit(unit: WriteUnit) -> None:
        names = [part.collection().name for part in unit.parts]
        stop = {"after_the_submission": 1, "before_the_runs": names.index("workflow_runs")}.get(
            where, len(names)
        )
        unit.write_in_part(stop)

    monkeypatch.setattr(WriteUnit, "commit", commit)


def _age_markers() -> None:
    """The pending markers as the sweep finds them once SWEEP_MIN_AGE has passed."""
    for sub in Submission._get_collection().find({"dispatch_pending": True}):
        old = [{**m, "at": dt.datetime(2026, 1, 1)} for m in sub["pending_events"]]
        Submission._get_collection().update_one({"_id": sub["_id"]}, {"$set": {"pending_events": old}})


@pytest.mark.parametrize("where", ["after_the_submission", "before_the_runs"])
def test_the_sweep_starts_the_runs_a_half_written_submission_lost_once(marker_path, monkeypatch, where):
    app, api, form, flows = marker_path
    _stopping(monkeypatch, where)
    api.post(f"/api/forms/{form['id']}/submissions", {"data": {"email": "ada@example.com"}})
    monkeypatch.undo()
    [sub] = Submission._get_collection().find({})
    assert sub["dispatch_pending"] and WorkflowRun.objects.count() == 0  # written alone, with its marker
    _age_markers()

    assert dispatch.sweep(max_attempts=5, min_age=60, app=app) == 1
    assert dispatch.sweep(max_attempts=5, min_age=60, app=app) == 0  # the marker is gone

    started = WorkflowRun.objects(workflow_id__in=[wf["id"] for wf in flows])
    assert sorted(run.workflow_id for run in started) == sorted(wf["id"] for wf in flows)
    assert all(run.trigger["data"]["submission"]["id"] == str(sub["_id"]) for run in started)
    step_jobs = PluginJob.objects(run_id__in=[str(run.id) for run in started])
    assert sorted(job.config_id for job in step_jobs) == sorted(
        f"{wf['id']}:{n}" for wf, n in zip(flows, ("one", "two"), strict=True)
    )
    assert PluginJob.objects(run_id=None).count() == 1  # the integration's job, once


def test_the_sweep_starts_no_second_run_of_an_event_whose_runs_were_written(marker_path, monkeypatch):
    """The write got past the runs (their first jobs too) but the process died before the marker was
    cleared: the sweep finds the runs and starts none; a run whose job was lost is the run sweep's."""
    app, api, form, flows = marker_path
    _stopping(monkeypatch, "after_everything")  # everything written, nothing settled: the marker stays
    api.post(f"/api/forms/{form['id']}/submissions", {"data": {"email": "ada@example.com"}})
    monkeypatch.undo()
    first = sorted(str(run.id) for run in WorkflowRun.objects)
    PluginJob._get_collection().delete_many({"run_id": first[0]})  # one run's job was lost
    _age_markers()

    for _ in range(3):
        dispatch.sweep(max_attempts=5, min_age=60, app=app)

    assert sorted(str(run.id) for run in WorkflowRun.objects) == first
    assert PluginJob.objects(run_id=first[0]).count() == 0
    WorkflowRun._get_collection().update_many({}, {"$set": {"updated_at": dt.datetime(2026, 1, 1)}})
    runs(app).sweep(min_age=60)
    assert [PluginJob.objects(run_id=run_id).count() for run_id in first] == [1, 1]


def test_a_runs_write_that_fails_after_the_jobs_were_written_keeps_the_marker_for_the_sweep(
    marker_path, monkeypatch
):
    # (an error, not a crash: the request goes on to settle what was written, and must not clear the marker
    # the runs still need)
    app, api, form, flows = marker_path
    group = services(app).inserts.submissions.group
    real = group.write

    def write(parts, size=None):
        lost = [part for part in parts if part.collection().name == "workflow_runs"]
        real([part for part in parts if part not in lost])
        for part in lost:
            part.fail(AutoReconnect("connection reset while writing the runs"))
        if lost:
            raise AutoReconnect("connection reset while writing the runs")

    monkeypatch.setattr(group, "write", write)
    resp = api.post(f"/api/forms/{form['id']}/submissions", {"data": {"email": "ada@example.com"}})
    monkeypatch.undo()
    services(app).markers.flush(2.0)  # (markers are cleared in batches)
    assert resp.status_code == 503
    [sub] = Submission._get_collection().find({})
    assert WorkflowRun.objects.count() == 0 and PluginJob.objects(run_id=None).count() == 1
    assert sub["dispatch_pending"] and sub["pending_events"]  # kept: the event is not finished
    _age_markers()

    assert dispatch.sweep(max_attempts=5, min_age=60, app=app) == 1
    started = WorkflowRun.objects(workflow_id__in=[wf["id"] for wf in flows])
    assert sorted(run.workflow_id for run in started) == sorted(wf["id"] for wf in flows)
    assert PluginJob.objects(run_id=None).count() == 1  # the integration's job, once
