"""The submissions browser (per form and across forms): search, filters, sorting, pages both ways,
streamed CSV/JSON exports of the current filter, and one submission's detail with its revisions and every
delivery. Edit, resend and delete (one or the rows chosen on a page) call the JSON API, like every other
change; the first page follows new submissions (app/admin/live_rows.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from flask import Response, abort, current_app, render_template, request, stream_with_context, url_for

from app.admin import access, bp, live_rows
from app.admin.columns import Columns
from app.admin.export import FORMATS, csv_rows, json_rows, jsonl_rows, table_rows, times_in
from app.admin.read_gate import Turn, turn_for
from app.admin.submission_search import (
    Filters,
    field_names,
    heavy,
    matching,
    page_of,
    summary,
    text_of,
    viewer_zone,
    zone_name,
)
from app.admin.xlsx_stream import xlsx_chunks
from app.models import Form, FormField, PluginConfig, PluginExecutionLog, PluginJob, Submission, find_by_id
from app.models import revision as revisions


def _scope(form: Form | None) -> tuple[dict[str, Form], Filters]:
    forms = {str(f.id): f for f in access.visible_forms().only("id", "name", "fields", "workspace_id")}
    filters = Filters.read(
        request.args, str(form.id) if form else "", zone_name(request.args, request.cookies)
    )
    if filters.form_id and filters.form_id not in forms:
        abort(404)
    return forms, filters


def _browser(form: Form | None):
    forms, filters = _scope(form)
    in_scope = [forms[filters.form_id]] if filters.form_id else list(forms.values())
    columns = Columns.read(request.args, in_scope)
    if not columns.sortable(filters.sort):  # (no sorting by a column the page does not show)
        filters = replace(filters, sort="newest", after="")
    newest = live_rows.start_key()  # (an empty list follows from before it was read)
    if heavy(filters):
        with _turn(in_scope):
            found = page_of(filters, forms, current_app.config["EXPORT_SHARE"])
    else:
        found = page_of(filters, forms)
    fields = field_names(in_scope)
    here = request.path
    local_times = request.args.get("times") == "local"

    def link(**changes: Any) -> str:
        return here + "?" + urlencode({**filters.as_args(**changes), **columns.as_args()}, doseq=True)

    live = live_rows.follows(filters)
    live_url = live_rows.url(filters, columns, live_rows.newest_key(found.rows, newest), form) if live else ""
    context = dict(
        form=form,
        forms=forms,
        filters=filters,
        rows=found.rows,
        has_more=found.has_more,
        next_link=link(page=filters.page + 1, after=found.next_after),
        notes=found.notes,
        fields=fields,
        columns=columns,
        link=link,
        summary=summary,
        text_of=text_of,
        export_args=urlencode(
            {
                **{k: v for k, v in filters.as_args().items() if k not in ("page", "after")},
                **({"times": "local"} if local_times else {}),
            }
        ),
        local_times=local_times,
        editable={fid: access.can_edit(f.workspace_id) for fid, f in forms.items()},
        live_url=live_url,
    )
    return render_template("admin/submissions.html", **context)


@bp.get("/submissions/rows")
def new_submission_rows():
    return _new_rows(None)


@bp.get("/forms/<form_id>/submissions/rows")
def new_form_submission_rows(form_id: str):
    return _new_rows(access.form_or_404(form_id))


def _new_rows(form: Form | None):
    """The rows newer than ``newer`` (a row's key), newest first, at most a page: what the browser's
    script adds at the top of a list that follows the server (static/data.js)."""
    forms, filters = _scope(form)
    newer = live_rows.key_arg()
    in_scope = [forms[filters.form_id]] if filters.form_id else list(forms.values())
    columns = Columns.read(request.args, in_scope)
    rows = live_rows.newer_than(newer, [str(f.id) for f in in_scope])
    return render_template(
        "admin/_submission_live.html",
        form=form,
        forms=forms,
        rows=rows,
        columns=columns,
        summary=summary,
        text_of=text_of,
        editable={fid: access.can_edit(f.workspace_id) for fid, f in forms.items()},
        live_url=live_rows.url(filters, columns, live_rows.newest_key(rows, newer), form),
    )


@bp.get("/submissions")
def all_submissions():
    return _browser(None)


@bp.get("/forms/<form_id>/submissions")
def form_submissions(form_id: str):
    return _browser(access.form_or_404(form_id))


@bp.get("/submissions/export.<fmt>")
def export_submissions(fmt: str):
    """The current filter as a download, written while the store is read (never whole in memory)."""
    if fmt not in FORMATS:
        abort(404)
    forms, filters = _scope(None)
    in_scope = [forms[filters.form_id]] if filters.form_id else list(forms.values())
    turn = _turn(in_scope)  # (given back when the response closes: see below)
    docs = _holding(turn, matching(filters, forms, share=current_app.config["EXPORT_SHARE"]))
    times = times_in(viewer_zone(filters.tz) if request.args.get("times") == "local" else None)
    names = {fid: f.name for fid, f in forms.items()}
    if fmt == "csv":
        body = csv_rows(docs, field_names(in_scope), names, times, bom=request.args.get("bom") == "1")
    elif fmt == "xlsx":
        body = xlsx_chunks(table_rows(docs, field_names(in_scope), names, times))
    elif fmt == "jsonl":
        body = jsonl_rows(docs, times)
    else:
        body = json_rows(docs, times)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M")
    resp = Response(  # (no count first: the first row leaves as soon as the store returns it)
        stream_with_context(body),
        mimetype=FORMATS[fmt].split(";")[0],
        headers={
            "Content-Disposition": f'attachment; filename="submissions-{stamp}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )
    resp.call_on_close(turn.release)  # (also when the body was never read: a HEAD, a dropped client)
    return resp


def _turn(in_scope: list[Form]) -> Turn:
    """The turn of a heavy read (a search, a filter, an export) of these forms' workspaces: one at a time
    per workspace in this process, a 429 when another does not end within ``HEAVY_READ_WAIT``."""
    return turn_for(str(f.workspace_id) for f in in_scope)


def _holding(turn: Turn, docs: Iterator[dict]) -> Iterator[dict]:
    """``docs``; the turn is given back as soon as the last is read (or the export stops)."""
    try:
        yield from docs
    finally:
        turn.release()


@dataclass
class Delivery:
    """One job of the submission with its attempts."""

    job: PluginJob
    config: PluginConfig | None
    attempts: list[PluginExecutionLog]

    @property
    def permanent(self) -> bool:
        """The last attempt failed for a reason that retrying cannot fix."""
        return bool(self.attempts) and self.attempts[-1].error_type == "permanent"


def _deliveries(sub: Submission, configs: dict[str, PluginConfig]) -> list[Delivery]:
    jobs = list(PluginJob.objects(submission_id=str(sub.id)).order_by("created_at", "id"))
    logs: dict[str, list[PluginExecutionLog]] = {str(j.id): [] for j in jobs}
    for job_id, entries in logs.items():  # (by equality: a $in on job_id walks every log held)
        entries += PluginExecutionLog.objects(__raw__={"job_id": {"$eq": job_id}}).order_by("attempt", "executed_at")
    return [Delivery(j, configs.get(j.config_id), logs[str(j.id)]) for j in jobs]


def _edit_fields(form: Form, data: dict[str, Any]) -> list[tuple[Any, Any]]:
    """The edit form's fields with their current values: the form's declared fields (the API's edit checks
    them as the intake does), or for a form that declares none, the submission's own keys (none when a
    value is a list or an object, which a text box would turn into text)."""
    if form.fields:
        return [(f, data.get(f.name)) for f in form.fields]
    if any(isinstance(v, dict | list) for v in data.values()):
        return []
    return [(FormField(name=k, type=_kind_of(v)), v) for k, v in data.items()]


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "checkbox"
    return "number" if isinstance(value, int | float) else "text"


@bp.get("/submissions/<submission_id>")
def submission(submission_id: str):
    sub = find_by_id(Submission, submission_id)
    if sub is None:
        abort(404)
    form = access.form_or_404(sub.form_id)
    configs = {str(c.id): c for c in PluginConfig.objects(form_id=str(form.id)).order_by("created_at")}
    deliveries = _deliveries(sub, configs)
    latest = {d.job.config_id: d for d in deliveries}  # per integration, its latest job: what Resend sends
    declared = [f.name for f in form.fields]
    values = [(f.label or f.name, f.name, sub.data.get(f.name)) for f in form.fields]
    values += [(k, k, v) for k, v in sub.data.items() if k not in declared]
    editable = access.can_edit(form.workspace_id)
    return render_template(
        "admin/submission.html",
        sub=sub,
        form=form,
        values=values,
        history=revisions.earlier(sub),
        deliveries=deliveries,
        resendable=[(configs[cid], d) for cid, d in latest.items() if cid in configs],
        editable=editable,
        edit_fields=_edit_fields(form, sub.data) if editable and not sub.deleted else [],
        dropped=[k for k in sub.data if k not in declared] if form.fields else [],
        summary=summary(sub.data, form),
        text_of=text_of,
        back=url_for("admin.form_submissions", form_id=form.id),
    )
