"""One request's inserts written as one: the intake's submission and its jobs.

The intake adds the submission, then sends the trigger signal with the unit; the dispatch listener adds the
event's jobs with a ``then`` that settles them (hand-off, markers, lifecycle signals) once the outcome is
known. ``commit`` writes the parts in order through the app's group insert, so a submission and its jobs cost
one ordered write (shared with concurrent requests'): the jobs are written only if the submission is, and
"202 means the submission and its jobs are on disk" holds as with two writes.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from flask import Flask

from app.engine.group_commit import Into, Part, group_insert

T = TypeVar("T")


class WriteUnit:
    """Parts to write in order (each only once those before it are written), then their ``then``s."""

    def __init__(self, app: Flask):
        self.group = group_insert(app, "submissions").group
        self.parts: list[Part] = []
        self._thens: list[tuple[Part, Callable[[Part], Any], Future]] = []

    def add(self, into: Into, docs: list[dict[str, Any]]) -> Part:
        """Add ``docs`` for ``into``'s collection; the returned part holds its outcome after ``commit``."""
        part = into.part(docs)
        self.parts.append(part)
        return part

    def add_then(self, into: Into, docs: list[dict[str, Any]], then: Callable[[Part], T]) -> Future[T]:
        """Add ``docs``; after ``commit`` the future holds ``then(part)`` (or what it raised)."""
        future: Future[T] = Future()
        self._thens.append((self.add(into, docs), then, future))
        return future

    def commit(self) -> None:
        """Write the parts, then run the ``then``s in the order they were added (whatever happened: a
        ``then`` may hold something to give back, such as the hand-off's threads)."""
        try:
            self.group.write(self.parts)
        finally:
            thens, self._thens = self._thens, []
            for part, then, future in thens:
                try:
                    future.set_result(then(part))
                except Exception as exc:  # noqa: BLE001  (handed to whoever reads the future)
                    future.set_exception(exc)
