"""Removing data for good: restore or purge a deleted submission, purge a form's deleted submissions, erase
what a workspace holds about one e-mail address (a background operation), and the record of each removal.

Restore emits no event: integrations told of the deletion are not told of the restore (an edit after it
sends ``response.edited`` as usual). A submission with a delivery waiting or running is not purged (409):
its deletion may still be on its way to an integration."""

from __future__ import annotations

import time
from typing import Any

from bson import ObjectId
from flask import jsonify

from app.api import bp
from app.api.operations import start_operation
from app.api.schemas import ErasureIn
from app.api.scope import READ, WRITE, check_workspace, scoped_or_404, visible
from app.api.util import json_body, load, paginate, query_id
from app.api.workspaces import owned_workspace
from app.auth import require_principal
from app.engine import erasure, indexer, removal
from app.errors import APIError
from app.models import DataRemoval, Form, Submission, utcnow

PURGE_LIMIT = 1000  # deleted submissions one bulk purge request removes at most ("more" says if any remain)
PURGE_SECONDS = 5.0  # and the time it may take
PURGE_BATCH = 100


def who() -> dict[str, Any]:
    """Who asks for a removal, as its record says."""
    principal = require_principal()
    return {"by": principal.user_id, "by_email": principal.user.email if principal.user else None}


def _deleted(submission_id: str) -> Submission:
    sub = scoped_or_404(Submission, submission_id, "submission", WRITE)
    if not sub.deleted:
        raise APIError(409, "conflict", "This submission is not deleted; delete it first.")
    return sub


@bp.post("/submissions/<submission_id>/restore")
def restore_submission(submission_id: str):
    """Undo a delete (no event is sent)."""
    sub = _deleted(submission_id)
    coll = Submission._get_collection()
    restored = coll.update_one(
        {"_id": sub.id, "deleted": True, "revision": sub.revision},
        {"$set": {"deleted": False, "updated_at": utcnow(), indexer.PENDING: indexer.due_again(sub.index_pending)}},
    )  # (the indexer counts it in the results summary again)
    if not restored.modified_count:
        raise APIError(409, "conflict", "The submission changed meanwhile; reload and try again.")
    return jsonify(Submission._from_son(coll.find_one({"_id": sub.id})).to_dict())


@bp.post("/submissions/<submission_id>/purge")
def purge_submission(submission_id: str):
    """Remove a deleted submission for good, with its revisions, search postings, jobs and their logs."""
    sub = _deleted(submission_id)
    doc = Submission._get_collection().find_one({"_id": sub.id, "deleted": True}, removal.FIELDS)
    if doc is None:
        raise APIError(409, "conflict", "The submission changed meanwhile; reload and try again.")
    removed = removal.remove([doc])
    if removed.kept:
        raise APIError(
            409,
            "conflict",
            "A delivery of this submission is still waiting or running (its deletion may be on its way to an "
            "integration); purge it once its deliveries have finished.",
        )
    record = removal.record("purge", sub.workspace_id, removed, form_id=sub.form_id, **who())
    return jsonify({"id": str(sub.id), "purged": True, "removal": record.to_dict()})


@bp.post("/forms/<form_id>/submissions/purge-deleted")
def purge_deleted(form_id: str):
    """Remove the form's deleted submissions for good (at most PURGE_LIMIT per request: ``more`` says
    whether some remain; those with a delivery waiting or running are left and counted in ``kept``)."""
    form = scoped_or_404(Form, form_id, "form", WRITE)
    coll = Submission._get_collection()
    until = time.monotonic() + PURGE_SECONDS
    done, last, more = removal.Removed(), "", False
    query: dict[str, Any] = {"form_id": {"$eq": str(form.id)}, "deleted": {"$eq": True}}
    while docs := list(
        coll.find({**query, "sort_key": {"$gt": last}}, removal.FIELDS, sort=[("sort_key", 1)], limit=PURGE_BATCH)
    ):
        if done.submissions >= PURGE_LIMIT or time.monotonic() > until:
            more = True
            break
        done += removal.remove(docs)
        last = docs[-1]["sort_key"]
    legacy = [d for d in coll.find({**query, "sort_key": {"$eq": None}}, removal.FIELDS, limit=PURGE_BATCH)]
    if legacy and not more:  # (stored before the search index: found by their missing key)
        done += removal.remove(legacy)
        more = len(legacy) == PURGE_BATCH
    answer: dict[str, Any] = {"purged": done.submissions, "kept": done.kept, "more": more, "removal": None}
    if done.submissions:
        record = removal.record("purge", form.workspace_id, done, form_id=str(form.id), **who())
        answer["removal"] = record.to_dict()
    return jsonify(answer)


@bp.post("/workspaces/<workspace_id>/erasures")
def start_erasure(workspace_id: str):
    """Erase every submission holding an e-mail address across the workspace's forms, with everything held
    about them (a background operation; owner). Its record shows the address masked."""
    ws = owned_workspace(workspace_id)
    body = load(ErasureIn(), json_body())
    identifier = body["identifier"].strip()
    params = {
        "workspace_id": str(ws.id),
        "identifier": removal.mask(identifier),
        "private": {"identifier": identifier.casefold()},
    }
    response, status = start_operation(erasure.KIND, str(ws.id), params, False, [])
    op = response.get_json()
    defaults = erasure.defaults(
        {
            "_id": ObjectId(op["id"]),
            "workspace_id": str(ws.id),
            "created_by": op["created_by"],
            "params": params,
        }
    )
    removal.add_to_record({"operation_id": op["id"]}, removal.Removed(), defaults)
    return response, status


@bp.get("/removals")
def list_removals():
    """The records of data removals (retention, purges, erasures), newest first."""
    filters: dict[str, Any] = {}
    if form_id := query_id("form_id"):
        form = scoped_or_404(Form, form_id, "form", READ)
        filters = {"form_id": str(form.id), "workspace_id": form.workspace_id}
    elif workspace_id := query_id("workspace_id"):
        check_workspace(workspace_id, "workspace")
        filters = {"workspace_id": workspace_id}
    else:
        filters = visible()
    return jsonify(paginate(DataRemoval.objects(**filters), DataRemoval.to_dict))
