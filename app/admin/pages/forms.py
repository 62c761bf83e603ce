"""Forms: the list (with counts and last activity) and the form page (URL, snippets, integrations, fields,
submissions with per-integration delivery status)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import render_template, request

from app.admin import access, bp, health, snippets, stats
from app.admin.submission_search import viewer_zone, zone_name
from app.models import DataRemoval, Form, PluginConfig, PluginJob, Submission, as_datetime
from app.models.form import FIELD_TYPES
from app.models.search_terms import live_newest, newest_live
from app.services import services

COUNT_CAP = 1000  # counting is slow on the embedded store: "1000+" past this
SUBMISSIONS_PER_PAGE = 20
REMOVALS_SHOWN = 10


@dataclass
class FormRow:
    form: Form
    workspace: str
    submissions: str
    integrations: int
    last_activity: Any


def _row(form: Form, names: dict[str, str]) -> FormRow:
    fid = str(form.id)
    live, newest = live_newest(fid)
    coll = Submission._get_collection()
    latest = coll.find_one(live, {"created_at": 1}, sort=newest)
    # (past the cap: one row skipped to in the store; under it, the few rows counted)
    beyond = coll.find_one(live, {"_id": 1}, sort=newest, skip=COUNT_CAP)
    n = COUNT_CAP + 1 if beyond else len(list(coll.find(live, {"_id": 1}, sort=newest, limit=COUNT_CAP)))
    last = max(
        (t for t in (as_datetime(form.updated_at), as_datetime(latest["created_at"]) if latest else None) if t),
        default=None,
    )
    return FormRow(
        form=form,
        workspace=names.get(form.workspace_id or "", ""),
        submissions=f"{COUNT_CAP}+" if n > COUNT_CAP else str(n),
        integrations=PluginConfig.objects(form_id=fid).count(),
        last_activity=last,
    )


@bp.get("/forms")
def forms():
    places = access.places()
    names = {p.id: p.name for p in places}
    rows = [_row(f, names) for f in access.visible_forms().order_by("name")]
    return render_template(
        "admin/forms.html",
        rows=rows,
        places=places,
        editable=[p for p in places if p.can_edit],
        can_edit={p.id: p.can_edit for p in places},
    )


@dataclass
class Card:
    """An integration on the form page."""

    config: PluginConfig
    plugin: dict[str, Any] | None
    last: dict[str, Any] | None
    week: stats.DayRate
    circuit: str | None
    circuit_words: str | None
    delayed: int  # jobs delayed now


def _cards(form: Form) -> list[Card]:
    raw = {str(d["_id"]): d for d in PluginConfig._get_collection().find({"form_id": str(form.id)})}
    described = {p["id"]: p for p in services().plugins.describe_all()}
    held = health.held(raw.values())
    delayed = health.delayed_counts(raw)
    zone = viewer_zone(zone_name(request.args, request.cookies))
    return [
        Card(
            config=cfg,
            plugin=described.get(cfg.plugin_id),
            last=stats.last_attempt(str(cfg.id)),
            week=stats.success_rate(str(cfg.id), held=str(cfg.id) in held),
            circuit=stats.circuit_state(raw.get(str(cfg.id), {})),
            circuit_words=health.circuit_words(cfg.circuit, zone),
            delayed=delayed[str(cfg.id)],
        )
        for cfg in PluginConfig.objects(form_id=str(form.id)).order_by("created_at")
    ]


def _submissions(form: Form) -> tuple[list[Submission], dict[str, dict[str, PluginJob]], bool]:
    """The latest submissions (newest first), their jobs by config, and whether there are more
    (the submissions browser lists them all)."""
    docs = newest_live(Submission._get_collection(), str(form.id), 0, SUBMISSIONS_PER_PAGE + 1)
    subs = [Submission._from_son(doc) for doc in docs]
    older = len(subs) > SUBMISSIONS_PER_PAGE
    subs = subs[:SUBMISSIONS_PER_PAGE]
    jobs: dict[str, dict[str, PluginJob]] = {str(s.id): {} for s in subs}
    for sid in jobs:
        for job in (
            PluginJob.objects(submission_id=sid)
            .only("id", "config_id", "status", "event")
            .order_by("created_at", "id")
        ):
            jobs[sid][job.config_id] = job  # the latest event's job wins
    return subs, jobs, older


@bp.get("/forms/<form_id>")
def form_page(form_id: str):
    form = access.form_or_404(form_id)
    subs, jobs, older = _submissions(form)
    cards = _cards(form)
    return render_template(
        "admin/form.html",
        form=form,
        editable=access.can_edit(form.workspace_id),
        submission_url=snippets.submission_url(form),
        curl=snippets.curl(form),
        html_snippet=snippets.html(form),
        cards=cards,
        submissions=subs,
        jobs=jobs,
        older=older,
        field_types=FIELD_TYPES,
        field_rows=[f.to_dict() for f in form.fields],
        columns=[c.config for c in cards],
        removals=list(DataRemoval.objects(form_id=str(form.id)).order_by("-updated_at").limit(REMOVALS_SHOWN)),
    )
