"""Inserts of concurrent requests combined into one write (group commit).

An accepted submission is written before its 202 as one ordered list of parts: the submission, then its
jobs (``engine.write_unit``). Under load a process's requests would each wait for the store in turn; here
the parts of callers that arrive while a write is in flight go together in the next write, so N concurrent
submissions cost about one round trip rather than N. Nobody waits for a timer: a caller alone writes at
once. Each caller returns only once its own documents are acknowledged, and gets the errors of its own
documents only.

A caller's parts are written in order, a part only once the parts before it are written: a group whose
parts span collections (or a caller with several parts) is an ordered client-level ``bulkWrite`` where the
store has it (MongoDB 8.0+, the embedded store), and one more after each failed document, for what came
after it. An nx-27017 that Formhooks did not start is never sent one (app/store/traits.py).
On a store that writes a ``bulkWrite`` all or nothing (the embedded store, app/store/nx_quiet.py) a caller's
parts are never split between two of them, so a submission and its jobs are stored together or not at all.
Where the store has no client-level bulkWrite, the parts are written in rounds, each caller's next part per
round (one ``insert_many`` per collection).

What it buys (bench/onoff.py, on/off interleaved, 3 rounds, a 2-core machine shared at load 10+): intake
alone 344 (328–350) req/s on, 209 (156–474) off; dispatch p99 13 (12–167) ms on, 176 (164–402) off. A gain
in 2 rounds of 3 and noise in the third: kept, as not shown to be worthless, until a quieter run decides.
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

from app.services import Inserts, services
from app.store import DUPLICATE_KEY
from app.store.traits import StoreTraits, store_traits

COMMAND_BYTES = (
    32 * 1024 * 1024
)  # estimated size of one bulkWrite: well under a message's 48 MB, so never split


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
    size: int = 0  # the caller's estimate of its documents' size in bytes
    woken: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to write the next group rather than with a result
    done: bool = False

    def to_write(self) -> list[Part]:
        """Its parts still to write, in order: none after a failed one (they are skipped), none after one
        whose failed document's siblings are still being tried. Parts with nothing left to send are settled
        on the way."""
        left: list[Part] = []
        for part in self.parts:
            if not part.done and part.sent == len(part.docs):
                _settle(part)
            if part.written:
                continue
            if part.done:
                for later in self.parts:
                    if not later.done:
                        later.skipped = later.done = True
                break
            left.append(part)
            if part.write_errors:
                break
        return left


class GroupInsert:
    """Ordered inserts of concurrent callers, shared writes (see the module's docstring)."""

    def __init__(self, collection: Callable[[], Collection]):
        self._collection = collection
        self._lock = threading.Lock()
        self._waiting: list[_Ticket] = []
        self._writing = False
        self._client_bulk = True  # until the store says it has no client-level bulkWrite
        self._traits: StoreTraits | None = None  # asked once the store answers

    def traits(self, client: Any = None) -> StoreTraits | None:
        """What the store can be trusted with (app.store.traits); None while it does not answer."""
        if self._traits is None:
            try:
                self._traits = store_traits(client or self._collection().database.client)
            except PyMongoError:  # unreachable: ask again next time
                return None
        return self._traits

    def atomic(self) -> bool:
        """Whether the store writes a client-level bulkWrite all or nothing (it says so when asked)."""
        traits = self.traits()
        return traits is not None and traits.atomic_bulk_write

    def write(self, parts: list[Part], size: int = 0) -> None:
        """Write ``parts`` in order, each only once those before it are written; returns once every part
        has its outcome (see ``Part``). ``size``: an estimate of the documents' bytes, at most
        ``COMMAND_BYTES`` for parts that must not be split between two commands."""
        if not parts:
            return
        ticket = _Ticket(parts, size)
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
            if is_duplicate(exc):
                message = exc.details["writeErrors"][0].get("errmsg", "duplicate key")
                raise DuplicateKeyError(message, DUPLICATE_KEY) from None
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
                        self._write([ticket])
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
        if not (several and self._client_bulk and self._client_bulk_writes(group)):
            _rounds(group)

    def _client_bulk_writes(self, group: list[_Ticket]) -> bool:
        """The callers' parts in ordered client-level bulkWrites: one, or one more after each failed
        document, and one more per ``COMMAND_BYTES`` of callers. After a failed document its part's other
        documents are tried, not its caller's later parts. False: the store has none (nothing written)."""
        colls: dict[Callable[[], Collection], Collection] = {}
        for ticket in group:
            for part in ticket.parts:
                if part.collection not in colls:
                    colls[part.collection] = part.collection()
        if not all(isinstance(coll, Collection) for coll in colls.values()):
            return False
        client = next(iter(colls.values())).database.client
        traits = self.traits(client)
        if traits is None or not traits.client_bulk_write:  # unreachable, or an unpatched nx-27017
            return False
        while todo := _remaining(group, COMMAND_BYTES):
            ops = [InsertOne(part.docs[k], namespace=colls[part.collection].full_name) for part, k in todo]
            failed: dict[str, Any] | None = None
            try:
                client.bulk_write(ops, ordered=True)
            except InvalidOperation as exc:  # "requires MongoDB server version 8.0+"
                if "bulk_write requires" not in str(exc):
                    raise
                self._client_bulk = False
                return False
            except ClientBulkWriteException as exc:
                if exc.error is not None or exc.write_concern_errors or not exc.write_errors:
                    raise
                failed = cast(list[dict[str, Any]], exc.write_errors)[0]
            stopped_at = len(todo) if failed is None else failed["idx"]
            for part, k in todo[:stopped_at]:
                part.sent = k + 1
            if failed is not None:
                part, k = todo[stopped_at]
                part.sent = k + 1
                part.write_errors.append({**failed, "index": k})
        return True


def _remaining(group: list[_Ticket], budget: int) -> list[tuple[Part, int]]:
    """The documents (part, index) still to write, callers in order while within ``budget`` bytes (at
    least one): each caller's parts in order, up to its first part with a failed document. Parts
    fully sent are settled on the way (written, failed, or skipped after a failed one)."""
    todo: list[tuple[Part, int]] = []
    spent = 0
    for ticket in group:
        if todo and spent + ticket.size > budget:
            break
        mine = [(part, k) for part in ticket.to_write() for k in range(part.sent, len(part.docs))]
        if mine:
            todo += mine
            spent += ticket.size
    return todo


def _settle(part: Part) -> None:
    part.done = True
    if part.write_errors:
        part.error = BulkWriteError(
            {"writeErrors": part.write_errors, "writeConcernErrors": [], "nInserted": 0}
        )


def _rounds(group: list[_Ticket]) -> None:
    """Write what is left of the callers' parts: per round each caller's next part, one ``insert_many``
    per collection; a part with a failed document ends its caller's list."""
    while current := [left[0] for ticket in group if (left := ticket.to_write())]:
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
                    _settle(part)


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
    from app.models import PluginJob, Submission  # noqa: PLC0415  (models import the engine)

    group = GroupInsert(Submission._get_collection)
    services(app).inserts = Inserts(
        submissions=Into(group, Submission._get_collection),
        jobs=Into(group, PluginJob._get_collection),
    )
