"""Inserts of concurrent requests combined into one write (group commit).

An accepted submission is written before its 202 as one ordered list of parts: the submission, then its
jobs (``engine.write_unit``). Under load a process's requests would each wait for the store in turn; here
the parts of callers that arrive while a write is in flight go together in the next write, so N concurrent
submissions cost about one round trip rather than N. Nobody waits for a timer: a caller alone writes at
once. Each caller returns only once its own documents are acknowledged, and gets the errors of its own
documents only.

A caller's parts are written in order, a part only once the parts before it are written: a group whose
parts span collections (or a caller with several parts) is one ordered client-level ``bulkWrite`` where the
store has it (MongoDB 8.0+, nx-27017); should a document fail, or where the store has none, what is left
is written in rounds, each caller's next part per round (one ``insert_many`` per collection).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from flask import Flask
from pymongo import InsertOne
from pymongo.collection import Collection
from pymongo.errors import (
    BulkWriteError,
    ClientBulkWriteException,
    DuplicateKeyError,
    InvalidOperation,
    PyMongoError,
)

DUPLICATE_KEY = 11000


@dataclass(eq=False)
class Part:
    """Documents of one caller for one collection. After the write: ``error`` (a ``BulkWriteError`` whose
    indexes point into ``docs``, or the error that failed the whole write), or ``skipped`` (not tried:
    an earlier part of the same caller failed), or neither: written."""

    collection: Callable[[], Collection]
    docs: list[dict[str, Any]]
    error: BaseException | None = None
    skipped: bool = False
    done: bool = False
    sent: int = 0  # documents known written (an ordered write stopped after them)
    write_errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def written(self) -> bool:
        return self.done and not self.skipped and self.error is None

    def fail(self, error: BaseException) -> None:
        if not self.done:
            self.error, self.done = error, True


def is_duplicate(error: BaseException | None) -> bool:
    """A ``BulkWriteError`` of duplicate keys only."""
    if not isinstance(error, BulkWriteError):
        return False
    errors = error.details.get("writeErrors", [])
    return bool(errors) and all(e.get("code") == DUPLICATE_KEY for e in errors)


@dataclass(eq=False)
class _Ticket:
    parts: list[Part]
    woken: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to write the next group rather than with a result
    done: bool = False

    def next_part(self) -> Part | None:
        """The first part not written yet, once every part before it is written (None: nothing to do)."""
        for part in self.parts:
            if not part.done and not part.docs:  # nothing to write: written
                part.done = True
            if not part.done:
                return part
            if not part.written:
                for later in self.parts:
                    if not later.done:
                        later.skipped = later.done = True
                return None
        return None


class GroupInsert:
    """Ordered inserts of concurrent callers, shared writes (see the module's docstring)."""

    def __init__(self, collection: Callable[[], Collection]):
        self._collection = collection
        self._lock = threading.Lock()
        self._waiting: list[_Ticket] = []
        self._writing = False
        self._client_bulk = True  # until the store says it has no client-level bulkWrite

    def write(self, parts: list[Part]) -> None:
        """Write ``parts`` in order, each only once those before it are written; returns once every part
        has its outcome (see ``Part``)."""
        if not parts:
            return
        ticket = _Ticket(parts)
        with self._lock:
            self._waiting.append(ticket)
            ticket.lead = not self._writing
            self._writing = True
        if not ticket.lead:
            ticket.woken.wait()
        if not ticket.done:  # this caller leads the next write (its own documents are in it)
            self._write_group()

    def insert(self, docs: list[dict[str, Any]], collection: Callable[[], Collection] | None = None) -> None:
        """Insert ``docs``. Raises ``BulkWriteError`` with this caller's failed documents (indexes into
        ``docs``), or the error that failed the whole write (the store is down, a timeout)."""
        if not docs:
            return
        part = Part(collection or self._collection, docs)
        self.write([part])
        if part.error is not None:
            raise part.error

    def insert_one(self, doc: dict[str, Any], collection: Callable[[], Collection] | None = None) -> None:
        """Insert one document; ``DuplicateKeyError`` if its ``_id`` or a unique key is taken."""
        try:
            self.insert([doc], collection)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if errors and errors[0].get("code") == DUPLICATE_KEY:
                raise DuplicateKeyError(errors[0].get("errmsg", "duplicate key"), DUPLICATE_KEY) from None
            raise

    def _write_group(self) -> None:
        with self._lock:
            group, self._waiting = self._waiting, []
        try:
            self._write(group)
        except PyMongoError as exc:  # the whole write failed (the store is down, a timeout): every caller's
            _fail_rest(group, exc)
        except Exception as exc:  # the driver could not encode a document (an int past 64 bits, ...): whose?
            if len(group) == 1:
                _fail_rest(group, exc)
            else:  # each caller alone, so that one caller's document fails only that caller
                for ticket in group:
                    try:
                        _rounds([ticket])
                    except Exception as alone:  # noqa: BLE001  (this caller's outcome)
                        _fail_rest([ticket], alone)
        except BaseException as exc:
            _fail_rest(group, exc)
            raise
        finally:
            with self._lock:
                for ticket in group:
                    ticket.done = True
                if self._waiting:  # the first caller that came meanwhile writes the next group
                    self._waiting[0].woken.set()
                else:
                    self._writing = False
            for ticket in group:
                ticket.woken.set()

    def _write(self, group: list[_Ticket]) -> None:
        parts = [part for ticket in group for part in ticket.parts if part.docs]
        several = len({part.collection for part in parts}) > 1 or len(parts) > len(group)
        if several and self._client_bulk:
            self._client_bulk_write(parts)
        _rounds(group)

    def _client_bulk_write(self, parts: list[Part]) -> None:
        """Every part in one ordered client-level bulkWrite. A document that fails stops it: what came
        before it is written, the rest is left to the rounds."""
        colls = {part.collection: part.collection() for part in parts}
        if not all(isinstance(coll, Collection) for coll in colls.values()):
            return
        ops = [InsertOne(doc, namespace=colls[p.collection].full_name) for p in parts for doc in p.docs]
        client = next(iter(colls.values())).database.client
        try:
            client.bulk_write(ops, ordered=True)
            stopped_at = len(ops)
        except InvalidOperation as exc:  # "requires MongoDB server version 8.0+"
            if "bulk_write requires" not in str(exc):
                raise
            self._client_bulk = False
            return
        except ClientBulkWriteException as exc:
            if exc.error is not None or exc.write_concern_errors or not exc.write_errors:
                raise
            stopped_at = cast(list[dict[str, Any]], exc.write_errors)[0]["idx"]
        start = 0
        for part in parts:
            part.sent = min(len(part.docs), max(0, stopped_at - start))
            part.done = part.sent == len(part.docs)
            start += len(part.docs)


def _rounds(group: list[_Ticket]) -> None:
    """Write what is left of the callers' parts: per round each caller's next part, one ``insert_many``
    per collection; a part with a failed document ends its caller's list."""
    while current := [part for ticket in group if (part := ticket.next_part()) is not None]:
        by_collection: dict[Callable[[], Collection], list[Part]] = {}
        for part in current:
            by_collection.setdefault(part.collection, []).append(part)
        for target, parts in by_collection.items():
            try:
                target().insert_many([d for p in parts for d in p.docs[p.sent :]], ordered=False)
            except BulkWriteError as exc:
                if exc.details.get("writeConcernErrors"):
                    for part in parts:
                        part.fail(exc)
                    continue
                _share_errors(parts, exc.details.get("writeErrors", []))
            for part in parts:
                if not part.done:
                    part.done = True
                    if part.write_errors:
                        part.error = BulkWriteError(
                            {"writeErrors": part.write_errors, "writeConcernErrors": [], "nInserted": 0}
                        )


def _share_errors(parts: list[Part], errors: list[dict[str, Any]]) -> None:
    """Give each part the write errors of its own documents, re-indexed into its ``docs``."""
    start = 0
    for part in parts:
        end = start + len(part.docs) - part.sent
        part.write_errors += [
            {**e, "index": e["index"] - start + part.sent}
            for e in errors
            if start <= e.get("index", -1) < end
        ]
        start = end


def _fail_rest(group: list[_Ticket], error: BaseException) -> None:
    for ticket in group:
        for part in ticket.parts:
            part.fail(error)


class Into:
    """The app's group insert, bound to one collection (``insert``, ``insert_one``, ``part``)."""

    def __init__(self, group: GroupInsert, collection: Callable[[], Collection]):
        self.group = group
        self._collection = collection

    def insert(self, docs: list[dict[str, Any]]) -> None:
        self.group.insert(docs, self._collection)

    def insert_one(self, doc: dict[str, Any]) -> None:
        self.group.insert_one(doc, self._collection)

    def part(self, docs: list[dict[str, Any]]) -> Part:
        """``docs`` as a part of an ordered write (``GroupInsert.write``)."""
        return Part(self._collection, docs)


def init_app(app: Flask) -> None:
    """One group insert for the collections the intake writes to before its 202."""
    from app.models import PluginJob, Submission  # noqa: PLC0415  (models import the engine's records)

    group = GroupInsert(Submission._get_collection)
    app.extensions["formhooks.group_inserts"] = {
        "submissions": Into(group, Submission._get_collection),
        "jobs": Into(group, PluginJob._get_collection),
    }


def group_insert(app: Flask, name: str) -> Into:
    """The app's group insert into ``name`` ("submissions" or "jobs")."""
    return app.extensions["formhooks.group_inserts"][name]
