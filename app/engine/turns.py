"""Threads that take several owners' work in turns: one task of each owner with work waiting, then the next
round, and no owner running more than its share of the threads at once. An owner (a workspace) with a long
backlog, or with slow tasks, cannot make another's one task wait behind all of it, as a
first-come-first-served pool did."""

from __future__ import annotations

import logging
import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Callable

log = logging.getLogger(__name__)


class Turns:
    """``threads`` daemon threads (started as work comes) running submitted tasks, owners in turns, at most
    ``per_owner`` of one owner's at once (all ``threads`` when None)."""

    def __init__(self, threads: int, name: str, per_owner: int | None = None) -> None:
        self._threads, self._name = threads, name
        self._per_owner = max(1, min(threads, per_owner or threads))
        self._started = 0
        self._ready = threading.Condition()
        self._waiting: OrderedDict[str, deque[Callable[[], None]]] = OrderedDict()
        self._running: Counter[str] = Counter()

    def submit(self, owner: str, task: Callable[[], None]) -> None:
        """Run ``task`` when ``owner``'s turn comes."""
        with self._ready:
            self._waiting.setdefault(owner, deque()).append(task)
            if self._started < self._threads:
                self._start()
            self._ready.notify()

    def _start(self) -> None:  # (with ``_ready`` held)
        self._started += 1
        threading.Thread(target=self._work, name=f"{self._name}-{self._started}", daemon=True).start()

    def _next(self) -> tuple[str, Callable[[], None]]:
        with self._ready:
            while (owner := self._first_within_share()) is None:
                self._ready.wait()
            tasks = self._waiting.pop(owner)
            task = tasks.popleft()
            if tasks:  # behind the other owners: their turn first
                self._waiting[owner] = tasks
            self._running[owner] += 1
            return owner, task

    def _first_within_share(self) -> str | None:
        return next((o for o in self._waiting if self._running[o] < self._per_owner), None)

    def _done(self, owner: str) -> None:
        with self._ready:
            self._running[owner] -= 1
            if not self._running[owner]:
                del self._running[owner]
            self._ready.notify()  # (a thread may wait for this owner's share)

    def _work(self) -> None:
        try:
            while True:
                owner, task = self._next()
                try:
                    task()
                except Exception:  # (a task reports its own failures; one that does not must not end the thread)
                    log.exception("a task of %s failed", self._name)
                finally:
                    self._done(owner)
        except BaseException:  # (past Exception, e.g. SystemExit: this thread ends, another takes its place)
            log.exception("a task of %s ended its thread; another is started", self._name)
            with self._ready:
                self._started -= 1
                self._start()
