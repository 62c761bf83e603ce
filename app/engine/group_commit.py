"""Inserts of concurrent requests combined into one write (group commit).

An accepted submission costs two ordered inserts before its 202: the submission, then its jobs. Under
load a process's requests would each wait for the store in turn; here the documents of callers that
arrive while a write is in flight go together in the next write, so N concurrent submissions cost about
two round trips rather than 2N. Nobody waits for a timer: a caller alone writes at once. Each caller
returns only once its own documents are acknowledged, and gets the errors of its own documents only.

The submissions and the jobs share one queue: a group that holds both (one request's submission, another's
jobs) is one client-level ``bulkWrite`` where the store has it (MongoDB 8.0+, nx-27017), else one
``insert_many`` per collection. A request's jobs are queued only once its submission is acknowledged, so
the order of its two writes holds whatever the group.
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


@dataclass
class _Ticket:
    docs: list[dict[str, Any]]
    collection: Callable[[], Collection]
    woken: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to write the next group rather than with a result
    done: bool = False
    error: BaseException | None = None


class GroupInsert:
    """``insert_many(ordered=False)`` into ``collection`` (or the one given per call), shared by concurrent
    callers."""

    def __init__(self, collection: Callable[[], Collection]):
        self._collection = collection
        self._lock = threading.Lock()
        self._waiting: list[_Ticket] = []
        self._writing = False
        self._client_bulk = True  # until the store says it has no client-level bulkWrite

    def insert(self, docs: list[dict[str, Any]], collection: Callable[[], Collection] | None = None) -> None:
        """Insert ``docs``. Raises ``BulkWriteError`` with this caller's failed documents (indexes into
        ``docs``), or the error that failed the whole write (the store is down, a timeout)."""
        if not docs:
            return
        ticket = _Ticket(docs, collection or self._collection)
        with self._lock:
            self._waiting.append(ticket)
            ticket.lead = not self._writing
            self._writing = True
        if not ticket.lead:
            ticket.woken.wait()
        if not ticket.done:  # this caller leads the next write (its own documents are in it)
            self._write_group()
        if ticket.error is not None:
            raise ticket.error

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
        except BulkWriteError as exc:
            _share_errors(group, exc)
        except ClientBulkWriteException as exc:
            _share_client_errors(group, exc)
        except PyMongoError as exc:  # the whole write failed (the store is down, a timeout): every caller's
            for ticket in group:
                ticket.error = exc
        except Exception as exc:  # the driver could not encode a document (an int past 64 bits, ...): whose?
            if len(group) == 1:
                group[0].error = exc
            else:  # each caller alone, so that one caller's document fails only that caller
                self._write_alone(group)
        except BaseException as exc:
            for ticket in group:
                ticket.error = exc
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
        """One write for the group: ``insert_many`` when it holds one collection, else a client-level
        bulkWrite, else (a store without one) one ``insert_many`` per collection."""
        targets = {ticket.collection for ticket in group}
        if len(targets) == 1:
            group[0].collection().insert_many([d for t in group for d in t.docs], ordered=False)
            return
        colls = {target: target() for target in targets}
        if self._client_bulk and all(isinstance(c, Collection) for c in colls.values()):
            first = next(iter(colls.values()))
            ops = [InsertOne(d, namespace=colls[t.collection].full_name) for t in group for d in t.docs]
            try:
                first.database.client.bulk_write(ops, ordered=False)
                return
            except InvalidOperation as exc:  # "requires MongoDB server version 8.0+"
                if "bulk_write requires" not in str(exc):
                    raise
                self._client_bulk = False
        for target in targets:  # each collection's tickets get their own errors
            mine = [t for t in group if t.collection is target]
            try:
                colls[target].insert_many([d for t in mine for d in t.docs], ordered=False)
            except BulkWriteError as exc:
                _share_errors(mine, exc)

    def _write_alone(self, group: list[_Ticket]) -> None:
        """Each caller's documents in a write of their own (a document a failed write sent already is a
        duplicate key error here, which callers take as "written earlier")."""
        for ticket in group:
            try:
                ticket.collection().insert_many(ticket.docs, ordered=False)
            except BaseException as exc:
                ticket.error = exc


def _share_errors(group: list[_Ticket], exc: BulkWriteError) -> None:
    """Give each caller the write errors of its own documents, re-indexed into its list."""
    if exc.details.get("writeConcernErrors"):
        for ticket in group:
            ticket.error = exc
        return
    errors = sorted(exc.details.get("writeErrors", []), key=lambda e: e.get("index", 0))
    start = 0
    for ticket in group:
        end = start + len(ticket.docs)
        mine = [{**e, "index": e["index"] - start} for e in errors if start <= e.get("index", -1) < end]
        if mine:
            ticket.error = BulkWriteError({"writeErrors": mine, "writeConcernErrors": [], "nInserted": 0})
        start = end


def _share_client_errors(group: list[_Ticket], exc: ClientBulkWriteException) -> None:
    """As ``_share_errors``, for a client-level bulkWrite (errors by ``idx`` over the whole group)."""
    if exc.error is not None or exc.write_concern_errors:  # the write as a whole failed
        for ticket in group:
            ticket.error = exc
        return
    raw = cast(list[dict[str, Any]], exc.write_errors or [])  # the driver's dicts, typed as WriteError
    errors = [{**e, "index": e["idx"]} for e in raw]
    _share_errors(group, BulkWriteError({"writeErrors": errors, "writeConcernErrors": [], "nInserted": 0}))


class Into:
    """The app's group insert, bound to one collection (``insert``, ``insert_one``)."""

    def __init__(self, group: GroupInsert, collection: Callable[[], Collection]):
        self.group = group
        self._collection = collection

    def insert(self, docs: list[dict[str, Any]]) -> None:
        self.group.insert(docs, self._collection)

    def insert_one(self, doc: dict[str, Any]) -> None:
        self.group.insert_one(doc, self._collection)


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
