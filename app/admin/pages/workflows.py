"""Workflows: the list, the editor (trigger and a step builder), run now, the runs and a run's steps.
Writes go through the API (/api/workflows, /api/workflow-runs)."""

from __future__ import annotations

import json
from typing import Any

from flask import abort, render_template, request

from app.admin import access, bp
from app.admin.health import circuit_words
from app.admin.step_fields import step_insertables
from app.admin.submission_search import viewer_zone, zone_name
from app.api.workflows import workflow_json
from app.auth import visible_workspace_ids
from app.contract import FORM_EVENTS
from app.engine.circuit import step_circuit_docs
from app.engine.host_steps import describe_host_steps
from app.engine.jobs import step_key
from app.models import Workflow, WorkflowRun, find_by_id
from app.models.workflow import ON_ERROR, TRIGGER_TYPES, WorkflowStatus, newest_runs
from app.services import services

LIMIT = 50
EMPTY_ROWS = 2  # blank step rows under the steps of a workflow (save to get more)


def _workflow_or_404(workflow_id: str) -> Workflow:
    wf = find_by_id(Workflow, workflow_id)
    if wf is None or access.role_in(wf.workspace_id) is None:
        abort(404)
    return wf


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True) if value not in (None, {}, []) else ""


@bp.get("/workflows")
def workflows():
    found = Workflow.objects(workspace_id__in=visible_workspace_ids()).order_by("-created_at").limit(LIMIT)
    writable = [p for p in access.places() if p.can_edit]
    return render_template("admin/workflows.html", workflows=list(found), writable=writable)


@bp.get("/workflows/<workflow_id>")
def workflow(workflow_id: str):
    wf = _workflow_or_404(workflow_id)
    shown = workflow_json(wf)
    zone = viewer_zone(zone_name(request.args, request.cookies))
    circuits = step_circuit_docs([step_key(wf.id, step["name"]) for step in shown["steps"]])
    rows = [
        {
            **step,
            "config_text": _pretty(step["config"]),
            "condition_text": _pretty(step.get("condition")),
            "circuit_words": circuit_words(
                (circuits.get(step_key(wf.id, step["name"])) or {}).get("circuit"), zone
            ),
        }
        for step in shown["steps"]
    ]
    rows += [{"name": "", "plugin_id": "", "on_error": "stop", "retries": 0, "delay_seconds": 0}] * EMPTY_ROWS
    rows = [
        {**row, "insertables": found}
        for row, found in zip(rows, step_insertables(wf, len(rows)), strict=True)
    ]
    runs = newest_runs(str(wf.id), LIMIT)
    return render_template(
        "admin/workflow.html",
        wf=wf,
        shown=shown,
        rows=rows,
        runs=list(runs),
        plugins=sorted([*services().plugins.describe_all(), *describe_host_steps()], key=lambda p: p["name"]),
        forms=list(access.visible_forms().filter(workspace_id=wf.workspace_id).only("id", "name")),
        statuses=[s.value for s in WorkflowStatus],
        trigger_types=TRIGGER_TYPES,
        form_events=FORM_EVENTS,
        on_error=ON_ERROR,
        conditions_text=_pretty(wf.trigger.get("conditions")),
        editable=access.can_edit(wf.workspace_id),
    )


@bp.get("/workflow-runs/<run_id>")
def workflow_run(run_id: str):
    run = find_by_id(WorkflowRun, run_id)
    if run is None or access.role_in(run.workspace_id) is None:
        abort(404)
    detail = run.to_dict(detail=True)
    for step in detail["steps"]:
        step["input_text"], step["output_text"] = _pretty(step["input"]), _pretty(step["output"])
    return render_template(
        "admin/workflow_run.html",
        run=detail,
        trigger_text=_pretty((run.trigger or {}).get("data")),
        editable=access.can_edit(run.workspace_id),
    )
