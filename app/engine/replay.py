"""Bulk replay: send again the jobs that match a filter (status, integration, form, submissions, time range).

Each requeued job keeps its idempotency key, so a receiver sees the same message id as before, and is
stamped with the replay's id: redoing a batch after a crash does not send any job twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, cast

from pymongo.collection import Collection

from app.engine.jobs import requeue
from app.engine.operations import BatchResult, window
from app.engine.records import JobRecord
from app.models import PluginJob

REPLAYABLE = ("failed", "cancelled", "completed")


class Replay:
    """Params: ``statuses``, ``workspace_id``, optional ``config_id``, ``form_id``, ``submission_ids``,
    ``since``, ``until``."""

    def query(self, params: dict[str, Any]) -> tuple[Collection, dict[str, Any]]:
        # (``$eq``: the workspace's jobs along the (workspace_id, created_at) index)
        filt: dict[str, Any] = {"workspace_id": {"$eq": params["workspace_id"]}, "status": {"$in": params["statuses"]}}
        for name in ("config_id", "form_id"):
            if params.get(name):
                filt[name] = params[name]
        if params.get("submission_ids"):
            filt["submission_id"] = {"$in": list(params["submission_ids"])}
        filt.update(window(params))
        return PluginJob._get_collection(), filt

    def item_ids(self, params: dict[str, Any]) -> Iterator[Any]:
        """The ids of ``query``'s jobs, one read per status (and per named submission) by equality: a
        ``$in`` on them made nx-27017 walk every job held (a workspace's failed jobs among 600,000: 37.5 s,
        every other request waiting as long; by equality 3.9 s)."""
        coll, filt = self.query(params)
        statuses = filt.pop("status")["$in"]
        submissions = filt.pop("submission_id", {}).get("$in") or [None]
        for status in statuses:  # (disjoint: no id comes twice)
            for sid in submissions:
                named = {"submission_id": {"$eq": sid}} if sid is not None else {}
                yield from (doc["_id"] for doc in coll.find({**named, **filt, "status": {"$eq": status}}, {"_id": 1}))

    def recent(self, params: dict[str, Any], since: dt.datetime) -> list[Any]:
        """The jobs of the workspace created since then, whatever their status (it may change)."""
        query = {"workspace_id": {"$eq": params["workspace_id"]}, "created_at": {"$gte": since}}
        return [doc["_id"] for doc in PluginJob._get_collection().find(query, {"_id": 1})]

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
