"""One request's inserts written as one: the intake's submission and its jobs.

A view adds its records (the intake: the submission), then sends the trigger signal with the unit; the
dispatch listener adds the event's jobs with ``add_jobs`` and a ``settle`` (hand-off, markers, lifecycle
signals) run once their outcome is known. The view commits the unit and reads the ids from ``job_ids``:
nothing comes back through the signal. ``commit`` writes the parts in order through the app's group insert, so a submission and its jobs cost
one ordered write (shared with concurrent requests'): the jobs are written only if the submission is, and
"202 means the submission and its jobs are on disk" holds as with two writes.

Where the store writes the unit all or nothing (the embedded store; a unit small enough for one command), a
submission needs no pending-event marker: it is never stored without its jobs. Elsewhere (MongoDB, whose
ordered write can stop part-way) the unit's ``guard`` fields (the marker) are set before it is written, and
the crash sweep finishes what a stop left undone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bson import ObjectId
from flask import Flask

from app.engine.group_commit import COMMAND_BYTES, Into, Part
from app.services import services

BSON_PER_JSON_BYTE = 8  # a document's BSON can be several times its JSON (arrays of small numbers)


class WriteUnit:
    """Parts to write in order (each only once those before it are written), then the jobs' ``settle``s;
    after ``commit``, ``job_ids`` holds the ids of the events' jobs."""

    def __init__(self, app: Flask, data_bytes: int = 0):
        """``data_bytes``: the size of the request's data, which every document of the unit may copy."""
        self.group = services(app).inserts.submissions.group
        self.parts: list[Part] = []
        self.data_bytes = data_bytes
        self.job_ids: list[ObjectId] = []
        self._settles: list[tuple[Part, Callable[[Part], list[ObjectId]]]] = []
        self._guards: list[tuple[dict[str, Any], dict[str, Any]]] = []

    @property
    def complete(self) -> bool:
        """After ``commit``: every part was written (a pending-event marker may then be cleared)."""
        return all(part.written for part in self.parts)

    def add(self, into: Into, docs: list[dict[str, Any]]) -> Part:
        """Add ``docs`` for ``into``'s collection; the returned part holds its outcome after ``commit``."""
        part = into.part(docs)
        self.parts.append(part)
        return part

    def add_jobs(
        self, into: Into, docs: list[dict[str, Any]], settle: Callable[[Part], list[ObjectId]]
    ) -> Part:
        """Add an event's job documents; ``commit`` adds ``settle(part)``, the ids of the event's jobs once
        their write has an outcome, to ``job_ids``."""
        part = self.add(into, docs)
        self._settles.append((part, settle))
        return part

    def guard(self, doc: dict[str, Any], fields: dict[str, Any]) -> None:
        """Set ``fields`` on ``doc`` (one of the unit's documents) when the unit may be stored in part."""
        self._guards.append((doc, fields))

    def write_in_part(self, n: int) -> None:
        """Write the first ``n`` parts alone, guarded: what a store that stops part-way leaves (crash tests)."""
        self._apply_guards()
        self.group.write(self.parts[:n])

    def _apply_guards(self) -> None:
        for doc, fields in self._guards:
            doc.update(fields)

    def commit(self) -> None:
        """Write the parts, then run the ``settle``s in the order they were added, whatever happened (one
        may hold something to give back, such as the hand-off's threads). Raises what the write raised,
        else the first error of a ``settle``."""
        docs = sum(len(part.docs) for part in self.parts)
        size = (self.data_bytes * BSON_PER_JSON_BYTE + 4096) * docs
        whole = size <= COMMAND_BYTES and self.group.atomic()
        if not whole:
            self._apply_guards()
        try:  # (a unit past COMMAND_BYTES goes alone: pymongo may split its command, not others' units)
            self.group.write(self.parts, size)
        finally:
            settles, self._settles = self._settles, []
            failed: Exception | None = None
            for part, settle in settles:
                try:
                    self.job_ids.extend(settle(part))
                except Exception as exc:  # noqa: BLE001  (the others still settle; the first is raised)
                    failed = failed or exc
        if failed is not None:
            raise failed
