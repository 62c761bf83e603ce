"""Submissions: the public intake (202 only once the submission and its jobs are written), edit, delete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bson import BSON, ObjectId
from bson.errors import BSONError
from flask import current_app, jsonify, request
from marshmallow import ValidationError
from pymongo.errors import (
    BulkWriteError,
    ClientBulkWriteException,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
)

from app import signals
from app.api import bp, idempotency, intake
from app.api.schemas import SubmissionIn, submission_schema
from app.api.scope import WRITE, scoped_or_404
from app.api.util import json_body, load, page_args, page_body, paginate, public
from app.auth.limits import hit
from app.engine import indexer
from app.engine.dispatch import pending_marker
from app.engine.group_commit import COMMAND_BYTES, Part, is_duplicate
from app.engine.write_unit import WriteUnit
from app.errors import APIError, invalid
from app.models import Form, Submission, search_terms, utcnow
from app.models import revision as revisions
from app.models.form import new_submission
from app.services import services
from app.signals import FormEvent
from app.store_health import as_store_error, restart_store_deadline

bp.after_request(intake.add_cors_headers)


SUBMISSION_IN = SubmissionIn()  # built once: building a schema costs more than the intake's own checks
MAX_DATA_BYTES = 2 * 1024 * 1024  # an edit's data, as stored (twice what a 1 MiB JSON body usually takes)
MAX_DOCUMENT_BYTES = 12 * 1024 * 1024  # a submission's document after an edit (the store's limit is 16 MiB)


def _validated_data(form: dict, data: dict[str, Any]) -> dict[str, Any]:
    schema = submission_schema(form.get("fields", []))
    if schema is None:
        return data
    try:
        loaded = schema.load(data)
    except ValidationError as err:
        raise invalid({"data": err.messages}) from None
    return {k: v for k, v in loaded.items() if v is not None}


def _emit(signal, form: dict, sub: dict, marker: dict, unit: WriteUnit | None = None) -> list[str]:
    """Send the trigger signal with ``unit`` (a new one by default), to which the listeners add their jobs;
    commit it. The ids of the event's jobs (raises what the unit's write raised)."""
    event = FormEvent(
        signal.name,
        str(form["_id"]),
        marker["key"],
        marker["at"],
        str(sub["_id"]),
        marker["revision"],
        marker.get("previous"),
    )
    app = current_app._get_current_object()
    unit = unit or WriteUnit(app)
    signal.send(app, event=event, form=form, submission=sub, unit=unit)
    unit.commit()
    return [str(job_id) for job_id in unit.job_ids]


def _not_written(error: BaseException | None) -> bool:
    """The submission's write surely did not happen: never tried, refused by the store, or never sent."""
    if isinstance(error, ClientBulkWriteException) and isinstance(error.error, BaseException):
        error = error.error  # the bulk write's top-level error (no document of it was written)
    return error is None or isinstance(
        error, (BulkWriteError, BSONError, ServerSelectionTimeoutError, WaitQueueTimeoutError)
    )


@dataclass
class _Outcome:
    """What the intake wrote before a failure, for its 503 (see ``_store_error``)."""

    sub_id: str = ""
    part: Part | None = None  # the submission's part of the write, once it exists

    def stored(self) -> str:
        """"yes", "no", or "maybe" (the store may have written it; its answer was lost)."""
        part = self.part
        if part is None or not part.done:
            return "no"
        if part.written or is_duplicate(part.error):  # (a duplicate: an earlier request wrote it)
            return "yes"
        return "no" if _not_written(part.error) else "maybe"


STORED_MESSAGES = {
    "no": "The database did not answer in time; this submission was not stored. Send it again.",
    "maybe": (
        "The database did not answer in time; this submission may have been stored. Send it again with "
        "the same Idempotency-Key header: it is then stored once (a retry is answered 409 while this "
        "request's outcome is unknown, up to 30 s). Without the header it may be stored twice."
    ),
    "yes": (
        "This submission was stored, but the database did not confirm the rest in time; its deliveries "
        "follow by themselves. Do not send it again."
    ),
}


def _store_error(exc: BaseException, outcome: _Outcome) -> APIError | None:
    """The intake's 503 when the store did not answer, saying whether the submission was stored."""
    stored = outcome.stored()
    details: dict[str, Any] = {"stored": stored}
    if stored != "no":
        details["id"] = outcome.sub_id
    return as_store_error(exc, STORED_MESSAGES[stored], details)


def _form_doc(form_id: str) -> dict:
    form = services().subscriptions.form(form_id)
    if form is None:
        raise APIError(404, "not_found", "form not found")
    return form


@bp.post("/forms/<form_id>/submissions")
@public
def create_submission(form_id: str):
    """The public intake: JSON, or a browser's form post (answered with pages; see docs/auth.md)."""
    try:
        return _intake(form_id)
    except APIError as err:
        pages = services().browser_answer
        answer = pages(form_id, err) if pages is not None else None
        if answer is None:
            raise
        return answer


def _intake(form_id: str):
    outcome = _Outcome()
    try:
        return _accept(form_id, outcome)
    except APIError:
        raise
    except Exception as exc:
        if (store := _store_error(exc, outcome)) is None:
            raise
        raise store from exc


def _accept(form_id: str, outcome: _Outcome):
    form = _form_doc(form_id)
    if not form.get("accepting_submissions", True):
        raise APIError(403, "form_closed", "This form is not accepting submissions.")
    if not intake.trusted_caller(form.get("workspace_id")):
        hit("SUBMIT_RATE_LIMIT", "submit", f"{request.remote_addr}:{form['_id']}")
    raw = intake.form_data(form) if intake.is_form_post() else load(SUBMISSION_IN, json_body())["data"]
    data = _validated_data(form, raw)
    now = utcnow()
    sub_id = ObjectId()
    claim = None
    if key := request.headers.get("Idempotency-Key"):
        claim = idempotency.begin(str(form["_id"]), key, raw, str(sub_id))
        if claim.replay is not None:
            return intake.accepted(str(form["_id"]), claim.replay)
        sub_id = ObjectId(claim.submission_id)
    marker = pending_marker("form.submitted", sub_id, 1)
    sub = new_submission(str(form["_id"]), form.get("workspace_id"), data, sub_id, now)
    sub[indexer.PENDING] = indexer.NEW  # (its postings and figures: the indexer's, after the 202)
    size = request.content_length  # (None: a chunked body, which may be as large as allowed)
    if size is None:
        size = current_app.config["MAX_CONTENT_LENGTH"] or COMMAND_BYTES
    unit = WriteUnit(current_app, size)
    stored = unit.add(services(current_app).inserts.submissions, [sub])
    outcome.sub_id, outcome.part = str(sub_id), stored
    unit.guard(sub, {"pending_events": [marker], "dispatch_pending": True})
    try:  # the submission and its jobs in one ordered write: the jobs only if the submission is written
        job_ids = _emit(signals.form_submitted, form, sub, marker, unit)
        if stored.error is not None:
            raise stored.error
    except Exception:
        if stored.written:  # its jobs failed (with its marker, the sweep finishes the dispatch)
            raise
        if not is_duplicate(stored.error):
            if claim is not None and _not_written(stored.error):  # the key must not remember this request
                restart_store_deadline()  # (this request's may be spent; a retry must not get 409s)
                idempotency.abandon(claim)
            # else the store may have written it (its answer was lost): a retry with the key finishes it
            raise
        # an earlier request with this Idempotency-Key wrote it, then died
        sub = Submission._get_collection().find_one({"_id": sub_id})
        job_ids = _emit(signals.form_submitted, form, sub, marker)
    response = {"id": str(sub_id), "jobs": job_ids}
    if claim is not None:
        idempotency.finish(claim, response)
    return intake.accepted(str(form["_id"]), response)


@bp.get("/forms/<form_id>/submissions")
def list_submissions(form_id: str):
    form = scoped_or_404(Form, form_id, "form")
    if request.args.get("include_deleted", "").lower() in ("1", "true"):
        return jsonify(paginate(Submission.objects(form_id=str(form.id)), Submission.to_dict))
    page, per_page = page_args()
    rows = search_terms.newest_live(Submission._get_collection(), str(form.id), (page - 1) * per_page, per_page + 1)
    return jsonify(page_body(rows, page, per_page, lambda some: [Submission._from_son(r).to_dict() for r in some]))


@bp.get("/submissions/<submission_id>")
def get_submission(submission_id: str):
    return jsonify(scoped_or_404(Submission, submission_id, "submission").to_dict())


@bp.get("/submissions/<submission_id>/revisions")
def list_revisions(submission_id: str):
    """The revisions edits replaced, newest first (as many as are kept: see app/models/revision.py)."""
    sub = scoped_or_404(Submission, submission_id, "submission")
    return jsonify({"revision": sub.revision, "items": revisions.earlier(sub)})


def _change(submission_id: str, signal, changes: dict[str, Any]) -> tuple[dict, dict, list[str]]:
    current = scoped_or_404(Submission, submission_id, "submission", WRITE)
    if current.deleted:
        raise APIError(409, "conflict", "The submission was deleted.")
    form = _form_doc(current.form_id)
    if "data" in changes:
        changes["data"] = _validated_data(form, changes["data"])
    revision = current.revision + 1
    previous = current.data if signal is signals.response_edited else None
    marker = pending_marker(signal.name, current.id, revision, previous)
    update: dict[str, Any] = {
        "$set": {
            **changes,
            "revision": revision,
            "updated_at": utcnow(),
            "dispatch_pending": True,
            indexer.PENDING: indexer.due_again(current.index_pending),  # (figures: the indexer's next pass)
        },
        "$push": {"pending_events": marker},
    }
    if "data" in changes:
        _check_size(current, changes["data"], marker)
        # The revision being replaced goes to its own collection first: if this edit then loses a race
        # (or the process dies), the copy equals the current revision, which readers do not list.
        revisions.keep(current)
        if current.history:
            update["$unset"] = {"history": ""}  # moved out by ``keep``
    coll = Submission._get_collection()
    updated = coll.update_one({"_id": current.id, "revision": current.revision, "deleted": False}, update)
    if not updated.modified_count:
        raise APIError(409, "conflict", "The submission changed meanwhile; reload and try again.")
    if "data" in changes:
        revisions.trim(str(current.id))
    sub = coll.find_one({"_id": current.id})
    if "data" in changes:
        search_terms.reindex([sub], previous={current.id: current.data})
    return sub, form, _emit(signal, form, sub, marker)


def _check_size(current: Submission, data: dict[str, Any], marker: dict[str, Any]) -> None:
    """413 when the edited data, or the submission's document with it, would be too large to store."""
    size = revisions.data_size(data)
    if size > MAX_DATA_BYTES:
        raise APIError(
            413,
            "too_large",
            f"The edited data would take {size:,} bytes stored; at most {MAX_DATA_BYTES:,}.",
        )
    doc = current.to_mongo().to_dict()
    doc.pop("history", None)
    doc["data"] = data
    projected = len(BSON.encode(doc)) + len(BSON.encode({"marker": marker}))
    if projected > MAX_DOCUMENT_BYTES:  # earlier edits' events, each with the data before it, not sent yet
        raise APIError(
            413,
            "too_large",
            "The submission's earlier edits are still being sent and it cannot grow further; "
            "try again in a moment.",
        )


@bp.patch("/submissions/<submission_id>")
def edit_submission(submission_id: str):
    scoped_or_404(Submission, submission_id, "submission", WRITE)  # before reading the body: 404 first
    body = load(SUBMISSION_IN, json_body())
    sub, _, job_ids = _change(submission_id, signals.response_edited, {"data": body["data"]})
    return jsonify({**Submission._from_son(sub).to_dict(), "jobs": job_ids})


@bp.delete("/submissions/<submission_id>")
def delete_submission(submission_id: str):
    sub, _, job_ids = _change(submission_id, signals.response_deleted, {"deleted": True})
    return jsonify({"id": str(sub["_id"]), "deleted": True, "jobs": job_ids})
