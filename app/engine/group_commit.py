"""Inserts of concurrent requests combined into one write (group commit).

An accepted submission costs two ordered inserts before its 202: the submission, then its jobs. Under
load a process's requests would each wait for the store in turn; here the documents of callers that
arrive while a write is in flight go together in the next write, so N concurrent submissions cost about
two round trips rather than 2N. Nobody waits for a timer: a caller alone writes at once. Each caller
returns only once its own documents are acknowledged, and gets the errors of its own documents only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

DUPLICATE_KEY = 11000


@dataclass
class _Ticket:
    docs: list[dict[str, Any]]
    woken: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to write the next group rather than with a result
    done: bool = False
    error: BaseException | None = None


class GroupInsert:
    """``insert_many(ordered=False)`` into one collection, shared by concurrent callers."""

    def __init__(self, collection: Callable[[], Collection]):
        self._collection = collection
        self._lock = threading.Lock()
        self._waiting: list[_Ticket] = []
        self._writing = False

    def insert(self, docs: list[dict[str, Any]]) -> None:
        """Insert ``docs``. Raises ``BulkWriteError`` with this caller's failed documents (indexes into
        ``docs``), or the error that failed the whole write (the store is down, a timeout)."""
        if not docs:
            return
        ticket = _Ticket(docs)
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

    def insert_one(self, doc: dict[str, Any]) -> None:
        """Insert one document; ``DuplicateKeyError`` if its ``_id`` or a unique key is taken."""
        try:
            self.insert([doc])
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if errors and errors[0].get("code") == DUPLICATE_KEY:
                raise DuplicateKeyError(errors[0].get("errmsg", "duplicate key"), DUPLICATE_KEY) from None
            raise

    def _write_group(self) -> None:
        with self._lock:
            group, self._waiting = self._waiting, []
        try:
            self._collection().insert_many([d for t in group for d in t.docs], ordered=False)
        except BulkWriteError as exc:
            _share_errors(group, exc)
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

    def _write_alone(self, group: list[_Ticket]) -> None:
        """Each caller's documents in a write of their own (a document a failed write sent already is a
        duplicate key error here, which callers take as "written earlier")."""
        for ticket in group:
            try:
                self._collection().insert_many(ticket.docs, ordered=False)
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


def init_app(app: Flask) -> None:
    """One group insert per collection the intake writes to before its 202."""
    from app.models import PluginJob, Submission  # noqa: PLC0415  (models import the engine's records)

    app.extensions["formhooks.group_inserts"] = {
        "submissions": GroupInsert(Submission._get_collection),
        "jobs": GroupInsert(PluginJob._get_collection),
    }


def group_insert(app: Flask, name: str) -> GroupInsert:
    """The app's group insert into ``name`` ("submissions" or "jobs")."""
    return app.extensions["formhooks.group_inserts"][name]
