"""Bulk replay: send again the jobs that match a filter (status, integration, form, submissions, time range).

Each requeued job keeps its idempotency key, so a receiver sees the same message id as before, and is
stamped with the replay's id: redoing a batch after a crash does not send any job twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, cast

from pymongo.collection import Collection

from app.engine.jobs import requeue, step_keys
from app.engine.operations import SCAN_PAGE, BatchResult, in_window
from app.engine.records import JobRecord
from app.models import PluginConfig, PluginJob
from app.models.newest import rows_since

REPLAYABLE = ("failed", "cancelled", "completed")


class Replay:
    """Params: ``statuses``, ``workspace_id``, optional ``config_id``, ``form_id``, ``submission_ids``,
    ``since``, ``until``."""

    def query(self, params: dict[str, Any]) -> tuple[Collection, dict[str, Any]]:
        """The jobs' collection; ``item_ids`` names the jobs."""
        return PluginJob._get_collection(), {}

    def item_ids(self, params: dict[str, Any]) -> Iterator[Any]:
        """The ids of ``query``'s jobs: per status and named submission (or integration in scope), SCAN_PAGE
        jobs a read by equality on an index, the rest of the filter checked here. Each read holds the store
        for a page, not a walk: nx-27017 walks every job held for a time range beside another field, or a
        ``$in`` on anything but ``_id`` (a workspace's failed jobs among 600,000 held it 3.8 s in one read).
        Jobs of a deleted integration, or of a workflow step renamed or removed since, are not sent again
        (a workflow run is replayed from its page)."""
        coll = PluginJob._get_collection()
        fields = {"workspace_id": 1, "form_id": 1, "config_id": 1, "created_at": 1}
        for status in dict.fromkeys(params["statuses"]):  # (each key picks disjoint jobs: no id comes twice)
            for key in _keys(params):
                key, skip = {**key, "status": {"$eq": status}}, 0
                while page := list(coll.find(key, fields).skip(skip).limit(SCAN_PAGE)):
                    skip += len(page)
                    yield from (doc["_id"] for doc in page if _covers(params, doc))

    def recent(self, params: dict[str, Any], since: dt.datetime) -> list[Any]:
        """The jobs of the workspace created since then, whatever their status (it may change)."""
        coll, workspace = PluginJob._get_collection(), ("workspace_id", params["workspace_id"])
        return [doc["_id"] for doc in rows_since(coll, workspace, "created_at", since, {"_id": 1})]

    def process(self, op: dict[str, Any], items: list[dict[str, Any]], max_attempts: int) -> BatchResult:
        op_id = str(op["_id"])
        result = BatchResult()
        for job in items:
            if job.get("operation_id") == op_id:
                result.created += 1  # requeued by this replay before a crash
            elif requeue(
                cast(JobRecord, job), "replay", tuple(op["params"]["statuses"]), max_attempts, op_id
            ):
                result.created += 1
            else:
                result.skipped += 1  # its status changed meanwhile
        return result


def _keys(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Equality reads that together hold the replay's jobs: one per named submission, or per ``config_id``
    a job in scope may carry (the integration named, or those of the form or workspace named, and each
    current step of the workspace's workflows: ``jobs.step_key``)."""
    if params.get("submission_ids"):
        return [{"submission_id": {"$eq": sid}} for sid in dict.fromkeys(params["submission_ids"])]
    if params.get("config_id"):
        return [{"config_id": {"$eq": params["config_id"]}}]
    scope = {"form_id": params["form_id"]} if params.get("form_id") else {"workspace_id": params["workspace_id"]}
    configs = [str(doc["_id"]) for doc in PluginConfig._get_collection().find(scope, {"_id": 1})]
    return [{"config_id": {"$eq": key}} for key in [*configs, *step_keys([params["workspace_id"]])]]


def _covers(params: dict[str, Any], job: dict[str, Any]) -> bool:
    """Whether a job read by one of ``_keys`` is in the replay's workspace, integration, form and window."""
    return (
        job.get("workspace_id") == params["workspace_id"]
        and all(job.get(name) == params[name] for name in ("config_id", "form_id") if params.get(name))
        and in_window(params, job)
    )
