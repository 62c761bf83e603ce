"""Erasure: remove everything held about one identifier (an e-mail address) across a workspace's forms, as a
tracked background operation (app/engine/operations.py).

A submission matches when one of its values (lists and nested values included), now or in an earlier
revision, holds the identifier, compared case-insensitively as a whole address. Candidates come from the
search index (the postings of the identifier's rarest word in each form) and a scan of the forms' earlier
revisions (only edited submissions have any), each checked before it is removed with its
revisions, postings, jobs and execution logs (app/engine/removal.py). Its waiting deliveries are cancelled
first; a submission with one running is left and counted as ``kept``. The workspace's workflow report files
holding the identifier are removed when the erasure starts (engine.host_steps.erase_files).

The identifier is held in the operation only while it runs (``params.private``, never shown) and in its
record only masked.

Besides a submission's own traces (removal.remove: also its Idempotency-Key records and the workflow runs
it triggered), candidates include the submissions that keep earlier revisions in a legacy ``history``
list; the results figures of the removed submissions' days no longer show a value holding the identifier
(its count goes to "other"); and the workspace's finished workflow runs holding it without a submission
(an inbound call, a manual run) are removed with their jobs and logs when the erasure starts.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator
from typing import Any

from bson import ObjectId
from pymongo.collection import Collection

from app.admin.submission_search import rarest_word
from app.engine import host_steps, removal
from app.engine.indexer import NEW, PENDING
from app.engine.operations import BatchResult
from app.models import (
    DataRemoval,
    Form,
    RunStatus,
    Submission,
    SubmissionRevision,
    SubmissionTerm,
    WorkflowRun,
)
from app.models.newest import EPOCH, rows_since
from app.models.search_terms import submission_of, term_key, words

KIND = "erasure"
REASON = "Erased: the data held about a person was removed."
ERASE_FIELDS = {"status": 1, "trigger": 1, "records": 1}  # of a workflow run, to find the identifier in


def pattern(identifier: str) -> re.Pattern[str]:
    """The identifier as a whole address inside a casefolded text (not ``xz@a.com`` nor ``z@a.community``)."""
    return re.compile(r"(?<![\w.+-])" + re.escape(identifier.strip().casefold()) + r"(?![\w-]|\.\w)")


def holds(value: Any, found: re.Pattern[str]) -> bool:
    """Whether a stored value (text, list, nested object) holds the identifier."""
    if isinstance(value, dict):
        return any(holds(v, found) for v in value.values())
    if isinstance(value, list):
        return any(holds(v, found) for v in value)
    return isinstance(value, str) and found.search(value.casefold()) is not None


class Erasure:
    """Params: ``workspace_id``, ``identifier`` (masked, for people), ``private.identifier`` (while it runs)."""

    def query(self, params: dict[str, Any]) -> tuple[Collection, dict[str, Any]]:
        return Submission._get_collection(), {"workspace_id": params["workspace_id"]}

    def recent(self, params: dict[str, Any], since: dt.datetime) -> list[Any]:
        return []  # (no cut-off: what matches when a batch runs is removed)

    def item_ids(self, params: dict[str, Any]) -> Iterator[Any]:
        """The candidates: per form of the workspace, the submissions holding the identifier's rarest word,
        and those with an earlier revision that held the identifier."""
        identifier = (params.get("private") or {}).get("identifier", "")
        found, seen = words(identifier), set()
        if not found:
            return
        held = pattern(identifier)
        host_steps.erase_files(params["workspace_id"], lambda text: holds(text, held))  # (workflow reports)
        terms, revisions = SubmissionTerm._get_collection(), SubmissionRevision._get_collection()
        submissions = Submission._get_collection()
        _erase_runs(params["workspace_id"], held)
        for form_id in _forms_held(params["workspace_id"]):
            word, count = rarest_word(form_id, found)
            postings = terms.find({"key": {"$eq": term_key(form_id, word)}}, {"_id": 1}) if count else []
            revised = (
                ObjectId(rev["submission_id"])
                for rev in revisions.find({"form_id": form_id}, {"submission_id": 1, "data": 1})
                if holds(rev.get("data"), held)
            )
            unindexed = (  # (accepted moments ago: the indexer has not written their postings yet)
                doc["_id"] for doc in submissions.find({"form_id": form_id, PENDING: NEW}, {"_id": 1})
            )
            legacy = (  # (stored before revisions moved out, never edited since)
                doc["_id"]
                for doc in submissions.find(
                    {"form_id": form_id, "history": {"$exists": True}}, {"history": 1}
                )
                if _in_history(doc, held)
            )
            for sub_id in itertools.chain((submission_of(p) for p in postings), unindexed, revised, legacy):
                if sub_id not in seen:
                    seen.add(sub_id)
                    yield sub_id

    def process(self, op: dict[str, Any], items: list[dict[str, Any]], max_attempts: int) -> BatchResult:
        identifier = (op["params"].get("private") or {}).get("identifier")
        result = BatchResult()
        if not identifier:  # (finished or cancelled meanwhile: it forgot the identifier)
            result.skipped = len(items)
            return result
        found = pattern(identifier)
        items = [doc for doc in items if doc.get("workspace_id") == op["params"]["workspace_id"]]
        revised = _revised(items, found)
        matching = [
            doc
            for doc in items
            if holds(doc.get("data"), found) or _in_history(doc, found) or str(doc["_id"]) in revised
        ]
        removal.cancel_deliveries([str(doc["_id"]) for doc in matching], REASON)
        removed = removal.remove(matching, forget=lambda text: found.search(text.casefold()) is not None)
        match = {"operation_id": str(op["_id"])}
        if not removal.add_to_record(match, removed, None):  # (written when the operation started)
            removal.add_to_record(match, removed, defaults(op))
        result.created, result.skipped = removed.submissions, len(items) - len(matching)  # (+ the step's)
        result.failures = removed.kept
        return result


def _revised(items: list[dict[str, Any]], found: re.Pattern[str]) -> set[str]:
    """The submissions among these with an earlier revision that held the identifier (read by equality, and
    only for edited ones: ``removal.was_edited``)."""
    coll = SubmissionRevision._get_collection()
    return {
        str(doc["_id"])
        for doc in items
        if removal.was_edited(doc)
        and any(
            holds(row.get("data"), found)
            for row in coll.find({"submission_id": {"$eq": str(doc["_id"])}}, {"data": 1})
        )
    }


def _forms_held(workspace_id: str) -> list[str]:
    """The workspace's forms, and those deleted whose submissions the retention pass has not removed yet."""
    forms = Form._get_collection().find({"workspace_id": workspace_id}, {"_id": 1})
    pending = {"kind": {"$eq": "form_deletion"}, "remaining": {"$eq": True}, "workspace_id": {"$eq": workspace_id}}
    deleted = DataRemoval._get_collection().find(pending, {"form_id": 1})
    return list(dict.fromkeys([*(str(f["_id"]) for f in forms), *(d["form_id"] for d in deleted)]))


def _erase_runs(workspace_id: str, found: re.Pattern[str]) -> None:
    """Remove the workspace's finished workflow runs whose trigger or step records hold the identifier,
    with their jobs and logs (a running one is left: its next step reads them)."""
    runs = rows_since(  # (all of them, a page a read: in one read, 7 s at 100,000 runs, the store held)
        WorkflowRun._get_collection(), ("workspace_id", workspace_id), "created_at", EPOCH, ERASE_FIELDS
    )
    ids = [
        run["_id"]
        for run in runs
        if run.get("status") != RunStatus.RUNNING.value
        and (holds(run.get("trigger"), found) or holds(run.get("records"), found))
    ]
    removal.remove_runs(ids)


def _in_history(doc: dict[str, Any], found: re.Pattern[str]) -> bool:
    return any(holds(entry.get("data"), found) for entry in doc.get("history") or ())


def defaults(op: dict[str, Any]) -> dict[str, Any]:
    """An erasure's record, created with the operation."""
    from app.models import User  # noqa: PLC0415

    user = (
        User._get_collection().find_one({"_id": ObjectId(op["created_by"])}, {"email": 1})
        if ObjectId.is_valid(op.get("created_by") or "")
        else None
    )
    return {
        "kind": KIND,
        "workspace_id": op.get("workspace_id"),
        "by": op.get("created_by"),
        "by_email": (user or {}).get("email"),
        "identifier": op["params"].get("identifier"),
        "operation_id": str(op["_id"]),
    }
