"""Backfill: send a form's existing submissions to an integration added later, as ``form.submitted`` events.

A submission that already has a job for this integration (from its live dispatch or an earlier backfill)
gets none, unless the owner asks to resend; conditions on the integration apply as at dispatch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from itertools import islice
from typing import Any

from bson import ObjectId
from pymongo.collection import Collection

from app.engine.conditions import Conditions, OverBudget, parse_stored
from app.engine.dispatch import event_key, insert_jobs, snapshot
from app.engine.jobs import new_job
from app.engine.operations import SCAN_PAGE, BatchResult, OperationError, window
from app.models import Form, PluginConfig, PluginJob, Submission, as_datetime, isoformat, utcnow
from app.models.search_terms import live_between, live_ids, unindexed
from app.signals import FormEvent

EVENT = "form.submitted"
GAP_COUNT_CAP = 10_000  # submissions counted for the offer made when an integration is switched back on


class Backfill:
    """Params: ``config_id``, optional ``since`` / ``until`` (ISO times), ``resend`` (bool), and the
    cut-off (``before``, ``recent``: see operations.cutoff)."""

    def query(self, params: dict[str, Any]) -> tuple[Collection, dict[str, Any]]:
        filt: dict[str, Any] = {"form_id": params["form_id"], "deleted": False}
        filt.update(window(params))
        return Submission._get_collection(), filt

    def item_ids(self, params: dict[str, Any]) -> Iterator[Any]:
        """The ids of ``query``'s submissions, SCAN_PAGE a read along the (form_id, deleted, sort_key) index
        (a sort_key starts with its time, so the window is a range of keys), then the cut-off's recent ones.
        One read of them all held the store for its whole walk (3.2 s at 100,000, others waiting); any time
        condition beside the range makes nx-27017 walk too. A form with submissions stored before the
        search index (no sort_key) is read by ``query``, at once."""
        coll = Submission._get_collection()
        if unindexed(coll, params["form_id"]) or params.get("upto"):  # (upto: an operation of an older version)
            _, filt = self.query(params)
            yield from (doc["_id"] for doc in coll.find(filt, {"_id": 1}))
            return
        since, until, before = (as_datetime(params.get(name)) for name in ("since", "until", "before"))
        yield from live_ids(coll, params["form_id"], since, min((t for t in (until, before) if t), default=None), SCAN_PAGE)
        recent = [ObjectId(i) for i in params.get("recent") or []]
        if recent and before is not None:  # (created at or after ``before``: not in the range above)
            newer = live_between(params["form_id"], max(before, since or before), until)
            yield from (doc["_id"] for doc in coll.find({**newer, "_id": {"$in": recent}}))

    def recent(self, params: dict[str, Any], since: dt.datetime) -> list[Any]:
        """From the (form_id, deleted, sort_key) index: a submission's sort_key starts with its time."""
        query = live_between(params["form_id"], since, None)
        return [doc["_id"] for doc in Submission._get_collection().find(query, {"_id": 1})]

    def process(self, op: dict[str, Any], items: list[dict[str, Any]], max_attempts: int) -> BatchResult:
        params, op_id = op["params"], str(op["_id"])
        config = PluginConfig._get_collection().find_one({"_id": ObjectId(params["config_id"])})
        form = Form._get_collection().find_one({"_id": ObjectId(params["form_id"])})
        if config is None or form is None:
            raise OperationError("The integration or its form was deleted.")
        conditions = parse_stored(config.get("conditions"))
        result, docs = BatchResult(), []
        for sub in items:
            if sub.get("deleted") or (conditions is not None and not _matches(conditions, sub.get("data"))):
                result.skipped += 1
                continue
            key = event_key(EVENT, sub["_id"], 1)
            event = FormEvent(EVENT, str(form["_id"]), key, as_datetime(sub["created_at"]), str(sub["_id"]))
            dispatch_key = f"backfill:{op_id}:{sub['_id']}" if params.get("resend") else key
            docs.append(
                new_job(
                    config,
                    form,
                    sub,
                    EVENT,
                    snapshot(form, sub, event),
                    f"{dispatch_key}:{config['_id']}",
                    max_attempts,
                    operation_id=op_id,
                )
            )
        jobs = insert_jobs(PluginJob._get_collection(), docs)
        result.created = sum(1 for job in jobs if job["new"] or job.get("operation_id") == op_id)
        result.skipped += len(docs) - result.created
        return result


def _matches(conditions: Conditions, data: dict[str, Any] | None) -> bool:
    """As at dispatch: conditions that run past one event's budget do not match."""
    try:
        return conditions.matches(data)
    except OverBudget:
        return False


def missed_while_off(config: PluginConfig, until: dt.datetime | None = None) -> dict[str, Any] | None:
    """The submissions a switched-off integration did not get (its form's, from ``disabled_at`` to
    ``until``): the window and its count, as offered for a backfill when it is switched on. None when the
    integration does not run on new submissions or when it was switched off is not known. ``more``: there
    are more than the count says (it stops at GAP_COUNT_CAP)."""
    since = as_datetime(config.disabled_at)
    if since is None or EVENT not in (config.trigger_events or []):
        return None
    until = until or utcnow()
    params = {"form_id": config.form_id, "since": isoformat(since), "until": isoformat(until)}
    coll, filt = Backfill().query(params)
    if unindexed(coll, config.form_id):  # (some stored before the search index: counted by time, a walk)
        return {**params, "submissions": coll.count_documents(filt), "more": False}
    # along the (form_id, deleted, sort_key) index, at most GAP_COUNT_CAP read: the count answers a request
    found = sum(1 for _ in islice(live_ids(coll, config.form_id, since, until, GAP_COUNT_CAP + 1), GAP_COUNT_CAP + 1))
    return {**params, "submissions": min(found, GAP_COUNT_CAP), "more": found > GAP_COUNT_CAP}
