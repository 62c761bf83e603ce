"""The submissions' search index, served by plain (single-value) indexes so both stores answer it from an
index: nx-27017 has no ``$text``, no multikey index and no index on dates, so an array of words on the
submission or a range on ``created_at`` would be a scan there.

- ``sort_key`` on each submission: its time (UTC, to the millisecond) then its id, as one string. It orders
  a form newest first with one index (``form_id``, ``deleted``, ``sort_key``), bounds date ranges (a day is
  a key prefix) and pages by key (``after`` a row) instead of skipping rows.
- one ``SubmissionTerm`` per word of a submission's values: ``_id`` is "<submission id> <word>" (so writing
  one twice is a no-op, and a submission's postings are one ``_id`` range), ``key`` "<form id> <word>", with
  the submission's ``sort_key``; a word search reads the postings of its rarest word newest first.

The intake writes ``sort_key`` with the submission and leaves its postings to the indexer's next pass
(app.engine.indexer, flag ``index_pending``), seconds later; until then a search reads those few
submissions directly. An edit writes its postings itself. Submissions stored before the index existed get
both from ``flask reindex-submissions``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import Any

from bson import ObjectId
from mongoengine import Document, StringField
from pymongo import UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from app.store import DUPLICATE_KEY

WORD = re.compile(r"\w+")
MAX_WORD = 64  # longer words are cut (the same for values and queries, so they still match)
MAX_TERMS = 200  # words kept per submission (its first ones): a 1 MB value costs no more than this
WRITE_BATCH = 1_000  # postings per insert: each write well within the store's timeout
MAX_TEXT = 65_536  # characters of a value read for words (a 1 MB value costs the intake no more)


class SubmissionTerm(Document):
    """One word of one submission (its posting in the search index)."""

    id = StringField(primary_key=True)  # "<submission id> <word>"
    key = StringField(required=True)  # "<form id> <word>"
    sort_key = StringField(required=True)  # the submission's (see ``sort_key``)

    meta = {"collection": "submission_terms", "indexes": [{"fields": ["key", "sort_key"]}]}


def text_of(value: Any) -> str:
    """A stored value as the text a person would search and read (lists joined, no ``.0`` floats)."""
    if isinstance(value, list):
        return ", ".join(text_of(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return ""
    return str(value)


def words(text: str) -> list[str]:
    """The searchable words of a text, casefolded, each once, in order."""
    return list(dict.fromkeys(w[:MAX_WORD] for w in WORD.findall(text.casefold())))


def words_of(data: Mapping[str, Any] | None) -> list[str]:
    """The searchable words of a submission's values (at most ``MAX_TERMS``)."""
    found: dict[str, None] = {}
    for value in (data or {}).values():
        for word in words(text_of(value)[:MAX_TEXT]):
            found.setdefault(word, None)
            if len(found) >= MAX_TERMS:
                return list(found)
    return list(found)


def time_key(moment: dt.datetime) -> str:
    """The ``sort_key`` prefix of a (naive UTC) time: every key of that millisecond or later is >= it."""
    return moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 1000:03d}"


def unindexed(coll: Any, form_id: str) -> bool:
    """Whether the form holds submissions (in ``coll``) stored before the search index (no ``sort_key`` yet:
    ``flask reindex-submissions`` gives them one); reads by ``sort_key`` miss them meanwhile."""
    return any(
        coll.find_one(
            {"form_id": {"$eq": form_id}, "deleted": {"$eq": deleted}, "sort_key": {"$eq": None}}, {"_id": 1}
        )
        for deleted in (False, True)
    )


def live_newest(form_id: str) -> tuple[dict[str, Any], list[tuple[str, int]]]:
    """The query and sort listing a form's live (not deleted) submissions newest first, along the (form_id,
    deleted, sort_key) index at any size (by ``created_at``, every submission of the form is sorted)."""
    return {"form_id": {"$eq": form_id}, "deleted": {"$eq": False}}, [("sort_key", -1)]


def newest_live(
    coll: Collection, form_id: str, skip: int, limit: int, fields: dict[str, int] | None = None
) -> list[dict[str, Any]]:
    """Rows ``skip`` to ``skip + limit`` of a form's live submissions, newest first (``fields`` of each, or
    all): along its index, the skip counted by the store (by ``created_at``, a sort of every submission of
    the form: 0.35 s at 100,000, growing), or by time for a form with some stored before the search index."""
    query, sort = live_newest(form_id)
    if unindexed(coll, form_id):
        query, sort = {"form_id": form_id, "deleted": False}, [("created_at", -1), ("_id", -1)]
    return list(coll.find(query, fields, sort=sort, skip=skip, limit=limit))


def live_between(form_id: str, since: dt.datetime | None, until: dt.datetime | None) -> dict[str, Any]:
    """The query for a form's live submissions received in [since, until) (naive UTC; None: open), as a
    range of keys along the same index (a time condition beside it makes nx-27017 walk the form)."""
    keys = {"$gte": time_key(since) if since else "", **({"$lt": time_key(until)} if until else {})}
    return {**live_newest(form_id)[0], "sort_key": keys}


def live_ids(
    coll: Collection, form_id: str, since: dt.datetime | None, until: dt.datetime | None, page: int
) -> Iterator[Any]:
    """The ids of ``live_between``'s submissions, oldest first, ``page`` a read along the index: one read
    of them all holds the store for its whole walk (3.2 s at 100,000, others waiting), and a count of them
    is counted in Python by nx-27017 (9.4 s over 200,000 submissions, for a week's 959)."""
    query = live_between(form_id, since, until)
    while docs := list(coll.find(query, {"sort_key": 1}).sort("sort_key", 1).limit(page)):
        yield from (doc["_id"] for doc in docs)
        upper = {k: v for k, v in query["sort_key"].items() if k == "$lt"}
        query["sort_key"] = {"$gt": docs[-1]["sort_key"], **upper}


def sort_key(created_at: dt.datetime, submission_id: Any) -> str:
    return time_key(created_at) + str(submission_id)


def term_key(form_id: str, word: str) -> str:
    return f"{form_id} {word}"


def search_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The fields the index adds to a submission document (needs its ``_id`` and ``created_at``)."""
    return {"sort_key": sort_key(doc["created_at"], doc["_id"])}


def postings(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``SubmissionTerm`` documents of a submission (with its ``sort_key``)."""
    key = doc.get("sort_key") or sort_key(doc["created_at"], doc["_id"])
    form_id, sub_id = doc["form_id"], str(doc["_id"])
    return [
        {"_id": f"{sub_id} {w}", "key": term_key(form_id, w), "sort_key": key} for w in words_of(doc.get("data"))
    ]


def submission_of(posting: Mapping[str, Any]) -> ObjectId:
    return ObjectId(posting["_id"].split(" ", 1)[0])


def posting_ids(sub_id: Any, data: Mapping[str, Any] | None) -> list[str]:
    """The ``_id`` of each posting of a submission holding ``data``."""
    return [f"{sub_id} {w}" for w in words_of(data)]


def reindex(
    docs: Iterable[Mapping[str, Any]], batch: int = 100, previous: Mapping[Any, Any] | None = None
) -> int:
    """Give these submissions their ``sort_key`` and postings, ``batch`` at a time (each write stays
    short); returns how many were done. ``previous``: by submission id, the data they held before (an
    edit), whose words they no longer hold lose their postings. Writing a posting again is a no-op (its
    ``_id``), so a run that stopped part-way can simply run again; the ``sort_key`` is set last: a
    submission that has one has its postings."""
    done = 0
    it = iter(docs)
    while chunk := list(islice(it, batch)):
        _reindex(chunk, previous or {})
        done += len(chunk)
    return done


def _reindex(docs: list[Mapping[str, Any]], previous: Mapping[Any, Any]) -> None:
    from app.models.form import Submission  # noqa: PLC0415

    fields = [search_fields(doc) for doc in docs]
    terms = SubmissionTerm._get_collection()
    gone = [
        i
        for doc in docs
        if doc["_id"] in previous
        for i in set(posting_ids(doc["_id"], previous[doc["_id"]])) - set(posting_ids(doc["_id"], doc.get("data")))
    ]
    if gone:  # (by _id: the one range nx-27017 serves from an index is equality on it)
        terms.delete_many({"_id": {"$in": gone}})
    write_postings([{**doc, **extra} for doc, extra in zip(docs, fields, strict=True)])
    Submission._get_collection().bulk_write(
        [UpdateOne({"_id": doc["_id"]}, {"$set": extra}) for doc, extra in zip(docs, fields, strict=True)],
        ordered=False,
    )


def write_postings(docs: Iterable[Mapping[str, Any]]) -> int:
    """Write these submissions' postings (those written before are left as they are); how many."""
    terms = SubmissionTerm._get_collection()
    new = [p for doc in docs for p in postings(doc)]
    for start in range(0, len(new), WRITE_BATCH):
        try:
            terms.insert_many(new[start : start + WRITE_BATCH], ordered=False)
        except BulkWriteError as err:  # written before (a run that stopped, an unchanged word)
            if any(e.get("code") != DUPLICATE_KEY for e in err.details.get("writeErrors", [])):
                raise
    return len(new)


def reindex_batches(everything: bool = False, batch: int = 100) -> Iterator[int]:
    """Index the submissions stored without ``sort_key`` (and, ``everything``, write every submission's
    postings again: any missing come back), a batch at a time; yields how many each batch did. Every query
    is served by an index on both stores (per form, by ``sort_key``)."""
    from app.models.form import Submission  # noqa: PLC0415

    coll = Submission._get_collection()
    for form_id in coll.distinct("form_id"):
        for deleted in (False, True):
            scope = {"form_id": {"$eq": form_id}, "deleted": {"$eq": deleted}}
            while docs := list(coll.find({**scope, "sort_key": {"$eq": None}}, limit=batch)):
                yield reindex(docs)
            last = ""
            while everything and (
                docs := list(coll.find({**scope, "sort_key": {"$gt": last}}, sort=[("sort_key", 1)], limit=batch))
            ):
                last = docs[-1]["sort_key"]
                yield reindex(docs)
