"""Executions: jobs and every attempt, filtered by submission, status, integration, form and time range, each
row tracing back to its submission, with a detail view; Retry, Cancel (one or many) and "retry all failed"
call the JSON API. The list and the detail follow the server by themselves (see pages/live.py)."""

from __future__ import annotations

import datetime as dt
import time
from itertools import islice
from typing import Any
from urllib.parse import urlencode

from flask import current_app, render_template, request

from app.admin import access, bp, health
from app.admin.query_args import page_arg, time_arg
from app.admin.read_gate import turn_for
from app.admin.submission_search import SCAN_LIMIT, Filters, matching, summary
from app.auth import visible_workspace_ids
from app.engine import jobs as lifecycle
from app.models import (
    JobStatus,
    LogStatus,
    PluginConfig,
    PluginExecutionLog,
    PluginJob,
    Submission,
    WorkflowRun,
    created_field,
    parse_object_id,
    utcnow,
)
from app.models.newest import TooFarBack, newest_rows

PER_PAGE = 25
RANGES = {
    "1h": ("Last hour", 1),
    "24h": ("Last 24 hours", 24),
    "7d": ("Last 7 days", 24 * 7),
    "30d": ("Last 30 days", 24 * 30),
    "all": ("Any time", None),
}
DELAYED = "delayed"  # pending jobs held by an open circuit or a back-off (app.admin.health)
VIEWS = {"jobs": [s.value for s in JobStatus] + [DELAYED], "attempts": [s.value for s in LogStatus]}
FILTERS = ("view", "status", "form_id", "config_id", "range", "from", "to", "q")
MATCHED_SUBMISSIONS = 1000  # a search by value looks at most at this many matching submissions (a read each)


def _time_range(args: dict[str, str]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The range's start (from ``range`` unless ``from`` is given) and end (a date: up to its end), UTC."""
    start, end = time_arg("from"), time_arg("to")
    hours = RANGES.get(args["range"], RANGES["all"])[1]
    if start is None and hours is not None:
        start = utcnow() - dt.timedelta(hours=hours)
    if end is not None and len(request.args.get("to", "")) == 10:  # a date: up to its end
        end += dt.timedelta(days=1)
    return start, end


def _args() -> dict[str, str]:
    args = {name: request.args.get(name, "").strip() for name in FILTERS}
    if args["view"] not in VIEWS:
        args["view"] = "jobs"
    if args["status"] not in VIEWS[args["view"]]:
        args["status"] = ""
    if args["range"] not in RANGES:
        args["range"] = "7d"
    return args


def _rows(args: dict[str, str], form_ids: list[str], model: type[Any], page: int) -> list[Any]:
    """The page's rows (one more than a page: whether there are more), newest first, each read served by an
    index (app.models.newest): per workspace, or per form, or per submission (a search), or per integration
    (delayed). TooFarBack past the rows a list reaches."""
    time_field = created_field(model)
    where: dict[str, Any] = {}
    if args["form_id"]:
        access.form_or_404(args["form_id"])
        form_ids = [args["form_id"]]
    if args["config_id"]:
        _, form = access.config_or_404(args["config_id"])
        form_ids = [fid for fid in form_ids if fid == str(form.id)]  # (its form's rows only: not every form's)
        where["config_id"] = {"$eq": args["config_id"]}
    anchors = [("form_id", form_id) for form_id in form_ids]
    if not args["form_id"] and not args["config_id"]:  # (every form of each workspace: one read per workspace,
        # of the forms there are: a deleted form's rows wait for the retention pass)
        anchors = [("workspace_id", workspace_id) for workspace_id in visible_workspace_ids()]
        where["form_id"] = {"$in": form_ids}
    keep = None
    if args["status"] == DELAYED:  # (each integration's pending jobs; held or due later is tested here: as
        # a query it was a walk of every job held, 13.6 s at 600,000)
        config_ids = [args["config_id"]] if args["config_id"] else list(_configs_of(form_ids))
        held, now, shown = health.held_among(config_ids), time.time(), set(form_ids)
        steps = [] if args["config_id"] else lifecycle.step_keys(visible_workspace_ids())  # (workflow steps')
        anchors = [("config_id", config_id) for config_id in [*config_ids, *steps]]
        where = {"status": {"$eq": health.PENDING}}
        keep = lambda job: job.get("form_id") in shown and health.is_delayed(job, held, now)  # noqa: E731
    elif args["status"]:  # (pending and running too: read by their state alone, they were every workspace's)
        where["status"] = {"$eq": args["status"]}
    start, end = _time_range(args)
    if args["q"]:
        submission_ids = _submissions_matching(args["q"], form_ids)
        if model is PluginJob:
            anchors = [("submission_id", sid) for sid in submission_ids]
        else:  # (logs are found by their job)
            jobs = PluginJob._get_collection()
            anchors = [
                ("job_id", str(job["_id"]))
                for sid in submission_ids
                for job in jobs.find({"submission_id": {"$eq": sid}}, {"_id": 1})
            ]
    skip = (page - 1) * PER_PAGE
    docs = newest_rows(model._get_collection(), anchors, time_field, where, skip, PER_PAGE + 1, start, end, keep)
    return [model._from_son(doc) for doc in docs]


def _configs_of(form_ids: list[str]) -> list[str]:
    return [
        str(c["_id"]) for c in PluginConfig._get_collection().find({"form_id": {"$in": form_ids}}, {"_id": 1})
    ]


def _submissions_matching(q: str, form_ids: list[str]) -> list[str]:
    """A submission id, or the ids of the (latest) submissions whose values contain these words."""
    if (oid := parse_object_id(q)) is not None:  # (a submission of one of these forms)
        doc = Submission._get_collection().find_one({"_id": oid}, {"form_id": 1})
        return [q] if doc is not None and doc.get("form_id") in form_ids else []
    with turn_for(visible_workspace_ids()):  # (a heavy read: app.admin.read_gate)
        found = matching(Filters(q=q), form_ids, limit=SCAN_LIMIT, share=current_app.config["EXPORT_SHARE"])
        return [str(doc["_id"]) for doc in islice(found, MATCHED_SUBMISSIONS)]


def _submission_summaries(rows: list, forms: dict[str, Any]) -> dict[str, str]:
    """A short summary (its first e-mail field) of each row's submission."""
    ids = list({parse_object_id(r.submission_id) for r in rows if r.submission_id} - {None})
    docs = Submission._get_collection().find({"_id": {"$in": ids}}, {"data": 1, "form_id": 1}) if ids else []
    return {str(d["_id"]): summary(d.get("data"), forms.get(d.get("form_id"))) or str(d["_id"]) for d in docs}


def _permanently_failed(rows: list) -> set[str]:
    """Failed jobs with an attempt that failed for a reason retrying cannot fix (a retry warns first)."""
    failed = [str(r.id) for r in rows if getattr(r, "status", None) == JobStatus.FAILED.value]
    if not failed:
        return set()
    logs = PluginExecutionLog._get_collection()  # (by equality: a $in on job_id walks every log held)
    return {job_id for job_id in failed if logs.find_one({"job_id": {"$eq": job_id}, "error_type": "permanent"})}


@bp.get("/executions")
def executions():
    args = _args()
    forms = {
        str(f.id): f
        for f in access.visible_forms().only("id", "name", "workspace_id", "fields").order_by("name")
    }
    configs = {
        str(c.id): c
        for c in PluginConfig.objects(form_id__in=list(forms)).only("id", "name", "form_id").order_by("name")
    }
    model = PluginJob if args["view"] == "jobs" else PluginExecutionLog
    page = page_arg()
    too_far = None
    try:
        docs = _rows(args, list(forms), model, page)
    except TooFarBack as err:
        docs, too_far = [], str(err)
    has_more = len(docs) > PER_PAGE
    docs = docs[:PER_PAGE]
    job_status = {}
    if args["view"] == "attempts" and docs:
        ids = list({parse_object_id(d.job_id) for d in docs} - {None})
        job_status = {str(j.id): j.status for j in PluginJob.objects(id__in=ids).only("id", "status")}
    kept = {k: v for k, v in args.items() if v}

    def page_args(n: int) -> str:
        return urlencode({**kept, "page": n})

    context = dict(
        args=args,
        rows=docs,
        forms=forms,
        configs=configs,
        job_status=job_status,
        summaries=_submission_summaries(docs, forms),
        permanent=_permanently_failed(docs) if args["view"] == "jobs" else set(),
        too_far=too_far,
        page=page,
        has_more=has_more,
        page_args=page_args,
        statuses=VIEWS[args["view"]],
        ranges=RANGES,
        editable={fid: access.can_edit(f.workspace_id) for fid, f in forms.items()},
        refresh_url=request.path + "?" + urlencode({**kept, "page": page, "partial": 1}),
        views={v: urlencode({**{k: x for k, x in kept.items() if k != "status"}, "view": v}) for v in VIEWS},
    )
    if request.args.get("partial"):
        return render_template("admin/_executions_table.html", **context)
    return render_template("admin/executions.html", **context)


@bp.get("/jobs/<job_id>")
def job(job_id: str):
    found, form = access.job_or_404(job_id)
    run = WorkflowRun.objects(id=parse_object_id(found.run_id)).only("name", "steps").first() if found.run_id else None
    cfg = None if run else PluginConfig.objects(id=parse_object_id(found.config_id)).first()
    attempts = list(PluginExecutionLog.objects(job_id=str(found.id)).order_by("attempt", "id"))
    sub = Submission._get_collection().find_one({"_id": parse_object_id(found.submission_id)}, {"data": 1})
    context = dict(
        job=found,
        form=form,
        submission_summary=summary(sub.get("data"), form) if sub else None,
        config=cfg,
        run=run,
        step_name=_step_name(run, found.step),
        attempts=attempts,
        editable=access.can_edit(found.workspace_id or (form.workspace_id if form else None)),
        refresh_url=request.path + "?partial=1",
    )
    if request.args.get("partial"):
        return render_template("admin/_job_detail.html", **context)
    return render_template("admin/job.html", **context)


def _step_name(run: WorkflowRun | None, index: int | None) -> str | None:
    """The name of step ``index`` of a workflow ``run`` (its pinned steps)."""
    if run is None or index is None or index >= len(run.steps):
        return None
    return run.steps[index].get("name")
