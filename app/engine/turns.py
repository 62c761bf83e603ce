"""Threads that take several owners' work in turns: one task of each owner with work waiting, then the next
round. An owner (a workspace) with a long backlog cannot make another's one task wait behind all of it, as
a first-come-first-served pool did."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable

log = logging.getLogger(__name__)


class Turns:
    """``threads`` daemon threads (started as work comes) running submitted tasks, owners in turns."""

    def __init__(self, threads: int, name: str) -> None:
        self._threads, self._name = threads, name
        self._started = 0
        self._ready = threading.Condition()
        self._waiting: OrderedDict[str, deque[Callable[[], None]]] = OrderedDict()

    def submit(self, owner: str, task: Callable[[], None]) -> None:
        """Run ``task`` when ``owner``'s turn comes."""
        with self._ready:
            self._waiting.setdefault(owner, deque()).append(task)
            if self._started < self._threads:
                self._started += 1
                name = f"{self._name}-{self._started}"
                threading.Thread(target=self._work, name=name, daemon=True).start()
            self._ready.notify()

    def _next(self) -> Callable[[], None]:
        with self._ready:
            while not self._waiting:
                self._ready.wait()
            owner, tasks = self._waiting.popitem(last=False)
            task = tasks.popleft()
            if tasks:  # behind the other owners: their turn first
                self._waiting[owner] = tasks
            return task

    def _work(self) -> None:
        while True:
            task = self._next()
            try:
                task()
            except Exception:  # (a task reports its own failures; one that does not must not end the thread)
                log.exception("a task of %s failed", self._name)
