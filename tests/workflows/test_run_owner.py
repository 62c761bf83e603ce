"""Workflow run state has one owner (app/engine/workflow_runs.py), as job state has app/engine/jobs.py."""

from __future__ import annotations

import pytest

from app.models import RunStatus
from tests.engine.test_job_owner import APP, status_writes

OWNER = APP / "engine" / "workflow_runs.py"
RUN_STATUSES = [s.value for s in RunStatus]


def _run_writes(source: str) -> list[int]:
    return status_writes(source, "RunStatus", RUN_STATUSES)


def test_no_module_but_the_owner_writes_a_run_status():
    writers = {
        str(path.relative_to(APP.parent)): lines
        for path in sorted(APP.rglob("*.py"))
        if path != OWNER and (lines := _run_writes(path.read_text()))
    }
    assert writers == {}
    assert _run_writes(OWNER.read_text())  # the check sees the owner's writes


@pytest.mark.parametrize(
    "source",
    [
        'runs.update_one({"_id": i}, {"$set": {"status": RunStatus.CANCELLED.value}})',
        'runs.update_one({"_id": i}, {"$set": {"status": "succeeded"}})',
        "RUNNING = RunStatus.RUNNING.value\nrun = {'status': RUNNING}",
        "run.status = RunStatus.FAILED",
    ],
)
def test_the_check_finds_a_run_status_written_in_each_way(source):
    assert _run_writes(source)


@pytest.mark.parametrize(
    "source",
    [
        'runs.find({"status": RunStatus.RUNNING.value})',
        'WorkflowRun.objects(status="failed")',
        'jobs.update_one({"_id": i}, {"$set": {"status": JobStatus.FAILED.value}})',
    ],
)
def test_the_check_leaves_reads_and_other_statuses_alone(source):
    assert _run_writes(source) == []
