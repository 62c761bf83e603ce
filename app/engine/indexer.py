"""The indexer: writes what the intake leaves out of its write, after the 202 — a submission's search
postings (app.models.search_terms) and its part of its form's figures (app.models.figures).

Which submissions are due is a flag on each, not a high-water mark: ``index_pending`` is 1 when the intake
stored it (postings and figures to write) and 2 when an edit, a delete or ``flask reindex-submissions``
changed it (figures to adjust; an edit writes its postings itself). A mark on ``sort_key`` or ``_id`` could
skip submissions: ObjectIds from different processes are not ordered, and one stored late (a slow write)
can sort before a mark already passed; a flag, with its own small index, cannot.

Each figure is counted exactly once, whichever processes run passes and wherever one stops:
1. read the state (its ``seq``; a journal left by a pass that stopped is finished first), then a batch of
   flagged submissions;
2. write their postings (a posting written twice is a no-op);
3. commit a journal: per submission, the ``figures_basis`` it counted for (taken back) and the one it
   counts for now (added). The commit is conditional on ``seq`` being unchanged and no journal pending, so
   of two passes that read the same batch only one goes on; and on no removal (engine.removal) since the
   state was read: a batch refused for that takes back the postings it wrote for removed submissions and
   commits the others;
4. apply the journal to each day's figures, skipping a document whose ``seq`` says it already has it
   (writes are conditional on the ``seq`` read, so a pass finishing another's stopped journal is safe);
5. set each submission's ``figures_basis`` and clear its flag unless it changed meanwhile (its revision
   moved on: it stays due, and the next batch takes back what this one added); drop the journal.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.errors import DuplicateKeyError

from app.engine import rollups
from app.models import Form, Submission, as_datetime, search_terms, utcnow
from app.models import figures as fig

log = logging.getLogger(__name__)

PENDING = "index_pending"
NEW = 1  # accepted: postings and figures to write
CHANGED = 2  # edited, deleted, or never counted: figures to adjust
BASIS = "figures_basis"
BASIS_SEQ = "figures_seq"  # the batch that set it
BATCH = 100  # submissions per journal (each write stays short, the journal small)
PASS_BATCHES = 20  # batches a pass does at most before it lets the scheduler's thread go
WRITE_CHUNK = 100  # submission updates per store command (see ``_settle``)
STALE_JOURNAL = 30.0  # seconds after which a journal is taken for one whose pass stopped
STATE_ID = "submissions"
REMOVALS = "removals"  # removals so far (a batch commits only if none ran since it read the state)


def due_again(pending: int | None) -> int:
    """The flag of a submission just changed: still NEW when its postings are not written yet."""
    return NEW if pending == NEW else CHANGED


def _states():
    return Submission._get_collection().database["indexer_state"]


def _state() -> dict[str, Any]:
    states = _states()
    if (state := states.find_one({"_id": STATE_ID})) is not None:
        return state
    with contextlib.suppress(DuplicateKeyError):
        states.insert_one({"_id": STATE_ID, "seq": 0, "journal": None})
    return states.find_one({"_id": STATE_ID}) or {"_id": STATE_ID, "seq": 0, "journal": None}


def run_pass(max_batches: int = PASS_BATCHES) -> int:
    """Index what is due, a batch at a time; how many submissions were done."""
    done = 0
    for _ in range(max_batches):
        count = run_batch()
        done += count
        if count < BATCH:
            break
    return done


def run_batch(stale_after: float = STALE_JOURNAL) -> int:
    """One batch (see the module's docstring); 0 when nothing is due or another pass holds the journal."""
    state = _state()
    if journal := state.get("journal"):
        if (utcnow() - journal["at"]).total_seconds() < stale_after:
            return 0  # (another pass is at it)
        log.warning("indexer: finishing batch %s left by a pass that stopped", journal["seq"])
        _finish(journal)
        return len(journal["subs"])
    docs = _due()
    if not docs:
        return 0
    search_terms.write_postings(docs)  # (those of edited ones exist: a no-op for them)
    while True:
        journal = {"seq": state["seq"] + 1, "at": utcnow(), "subs": _entries(docs)}
        committed = _states().update_one(
            {"_id": STATE_ID, "seq": state["seq"], "journal": None, REMOVALS: _as_read(state.get(REMOVALS))},
            {"$set": {"journal": journal, "seq": journal["seq"]}},
        )
        if committed.modified_count:
            break
        docs = _still_stored(docs)  # (a removal may have run since the state was read)
        fresh = _state()
        if fresh["seq"] != state["seq"] or fresh.get("journal") or not docs:
            return 0  # another pass committed first: its batch may hold these
        state = fresh  # refused for a removal only: the others go on
    new = [d for d in docs if d[PENDING] == NEW]
    if accepted := [(d["form_id"], d.get("workspace_id"), as_datetime(d["created_at"])) for d in new]:
        # the dashboard's submissions per hour (engine.rollups); lost if this pass stops right here,
        # which `flask rebuild-rollups` repairs
        rollups.submissions_collection().bulk_write(rollups.submission_ops(accepted), ordered=False)
    _finish(journal)
    return len(docs)


@contextlib.contextmanager
def paused(timeout: float = 10.0) -> Iterator[int]:
    """Hold the indexer's journal as an empty batch, so that no batch writes figures meanwhile (an erasure
    takes values out of them); yields the batch number to stamp what is written with. A holder that stops
    is taken over after STALE_JOURNAL like any batch. TimeoutError when a batch holds it past ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        state = _state()
        if (journal := state.get("journal")) is None:
            mine = {"seq": state["seq"] + 1, "at": utcnow(), "subs": []}
            held = {"_id": STATE_ID, "seq": state["seq"], "journal": None}
            if _states().update_one(held, {"$set": {"journal": mine, "seq": mine["seq"]}}).modified_count:
                break
        elif (utcnow() - journal["at"]).total_seconds() >= STALE_JOURNAL:
            _finish(journal)
            continue
        if time.monotonic() > deadline:
            raise TimeoutError("The indexer's batch did not end in time; try again.")
        time.sleep(0.05)  # (a batch takes a few milliseconds)
    try:
        yield mine["seq"]
    finally:
        _states().update_one({"_id": STATE_ID, "journal.seq": mine["seq"]}, {"$set": {"journal": None}})


def _due() -> list[dict[str, Any]]:
    coll = Submission._get_collection()
    docs = list(
        coll.find({PENDING: {"$eq": NEW}}, limit=BATCH)
    )  # (equality: served by the index on both stores)
    if len(docs) < BATCH:
        docs += list(coll.find({PENDING: {"$eq": CHANGED}}, limit=BATCH - len(docs)))
    return docs


def removed() -> None:
    """Called by a removal (engine.removal) once its submissions are gone: a batch that read the state
    before does not commit, and takes back the postings it wrote for them (the removal deletes them once
    more after this, so whichever of the two writes last, none remain)."""
    _state()
    _states().update_one({"_id": STATE_ID}, {"$inc": {REMOVALS: 1}})


def _as_read(value: int | None) -> Any:
    return {"$exists": False} if value is None else value


def _still_stored(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Those of ``docs`` still stored; the postings just written for the others are deleted."""
    stored = {
        d["_id"]
        for d in Submission._get_collection().find({"_id": {"$in": [d["_id"] for d in docs]}}, {"_id": 1})
    }
    gone = [d for d in docs if d["_id"] not in stored]
    if ids := [pid for d in gone for pid in search_terms.posting_ids(d["_id"], d.get("data"))]:
        search_terms.SubmissionTerm._get_collection().delete_many({"_id": {"$in": ids}})
    return [d for d in docs if d["_id"] in stored]


def _entries(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    form_ids = {d["form_id"] for d in docs}
    forms = {
        str(f["_id"]): f.get("fields") or []
        for f in Form._get_collection().find(
            {"_id": {"$in": [ObjectId(i) for i in form_ids if ObjectId.is_valid(i)]}}, {"fields": 1}
        )
    }
    return [
        {
            "id": d["_id"],
            "form_id": d["form_id"],
            "rev": d.get("revision", 1),
            "old": d.get(BASIS),
            "new": fig.basis(forms.get(d["form_id"], []), d),
        }
        for d in docs
    ]


def _finish(journal: Mapping[str, Any]) -> None:
    seq = journal["seq"]
    changes: dict[str, list[tuple[dict[str, Any], int]]] = {}
    for entry in journal["subs"]:
        for counted, sign in ((entry["old"], -1), (entry["new"], 1)):
            for period in fig.periods(counted["day"]) if counted is not None else ():
                changes.setdefault(fig.figures_id(entry["form_id"], period), []).append((counted, sign))
    _apply(seq, changes)
    _settle(journal["subs"], seq)
    _states().update_one({"_id": STATE_ID, "journal.seq": seq}, {"$set": {"journal": None}})


def _settle(entries: list[dict[str, Any]], seq: int) -> None:
    """Set each submission's ``figures_basis`` (never over a later batch's: a pass that stalled past
    STALE_JOURNAL may write this late) and clear its flag unless it changed meanwhile.

    A submission no batch has counted yet and unchanged since it was read (nearly every new one) takes one
    update; the others, and any of those that update missed, take the general three. Each update costs
    nx-27017 ≈ 0.4 ms on a submission document: three per submission were 45 % of the indexer's store
    time, and one 300-update command held the store ≈ 130 ms while the intake waited behind it."""
    subs = Submission._get_collection()
    fresh = [e for e in entries if e["old"] is None]
    if fresh:
        once = [
            UpdateOne(
                {"_id": e["id"], BASIS_SEQ: {"$exists": False}, "revision": e["rev"]},
                {"$set": {BASIS: e["new"], BASIS_SEQ: seq}, "$unset": {PENDING: ""}},
            )
            for e in fresh
        ]
        if _write(subs, once, ordered=False) == len(fresh):
            entries = [e for e in entries if e["old"] is not None]
    ops = []
    for entry in entries:
        # (Two plain filters: nx-27017 mismatches an update's ``$or`` holding ``$exists: false``. For one the
        # single update above settled, they change nothing: same basis and seq, flag already gone.)
        ops.append(UpdateOne({"_id": entry["id"], BASIS_SEQ: {"$exists": False}}, {"$set": {BASIS_SEQ: 0}}))
        ops.append(
            UpdateOne({"_id": entry["id"], BASIS_SEQ: {"$lte": seq}}, {"$set": {BASIS: entry["new"], BASIS_SEQ: seq}})
        )
        ops.append(UpdateOne({"_id": entry["id"], "revision": entry["rev"]}, {"$unset": {PENDING: ""}}))
    if ops:
        _write(subs, ops, ordered=True)


def _write(coll: Any, ops: list[UpdateOne], ordered: bool) -> int:
    """``ops`` in commands of at most WRITE_CHUNK updates (each short, so that the intake's writes get the
    store in between); how many documents they modified."""
    modified = 0
    for start in range(0, len(ops), WRITE_CHUNK):
        modified += coll.bulk_write(ops[start : start + WRITE_CHUNK], ordered=ordered).modified_count
    return modified


def _apply(seq: int, changes: Mapping[str, list[tuple[dict[str, Any], int]]]) -> None:
    coll = fig.FormFigures._get_collection()
    stored = {d["_id"]: d for d in coll.find({"_id": {"$in": list(changes)}})}
    for figures_id, parts in changes.items():
        current = stored.get(figures_id)
        if current is not None and current.get("seq", 0) >= seq:
            continue  # written by this journal already
        form_id, period = figures_id.rsplit(" ", 1)
        doc = current or fig.empty(form_id, period)
        read_seq = doc.get("seq", 0)
        for counted, sign in parts:
            fig.apply(doc, counted, sign)
        doc["seq"] = seq
        if current is None:
            with contextlib.suppress(DuplicateKeyError):  # (a pass finishing this same journal wrote it)
                coll.insert_one(doc)
        else:
            coll.replace_one({"_id": figures_id, "seq": read_seq}, doc)  # (lost: the same journal won)


def mark_uncounted(batch: int = 500) -> int:
    """Flag the submissions that were never counted in their form's figures (stored before them) so the
    indexer counts them; per form by ``sort_key``, a batch at a time. How many were flagged."""
    coll = Submission._get_collection()
    flagged = 0
    for form_id in coll.distinct("form_id"):
        last = ""
        while docs := list(
            coll.find(
                {"form_id": {"$eq": form_id}, "deleted": {"$eq": False}, "sort_key": {"$gt": last}},
                {"sort_key": 1, BASIS: 1, PENDING: 1},
                sort=[("sort_key", 1)],
                limit=batch,
            )
        ):
            last = docs[-1]["sort_key"]
            ids = [d["_id"] for d in docs if BASIS not in d and PENDING not in d]
            if ids:
                flagged += coll.update_many(
                    {"_id": {"$in": ids}, PENDING: {"$exists": False}}, {"$set": {PENDING: CHANGED}}
                ).modified_count
    return flagged


def drain(stale_after: float = STALE_JOURNAL, timeout: float = 600.0) -> int:
    """Run batches until nothing is due (the CLI, tests); how many submissions were done."""
    done = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = run_batch(stale_after)
        done += count
        if count:
            continue
        if not _due() and not _state().get("journal"):
            break
        time.sleep(0.05)  # another pass holds the journal
    return done
