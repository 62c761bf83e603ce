"""Run a plugin call with a deadline. A call that overruns is abandoned, not waited for.

Python cannot kill a thread; an overrunning call keeps its thread until it returns by itself. Those
threads are counted, and the scheduler stops claiming new work while too many are stuck.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

T = TypeVar("T")


class DeadlineExceeded(Exception):
    """The call did not return within its time limit."""


class DeadlineRunner:
    """Calls functions in a pool sized for the workers plus a bounded number of abandoned calls. With no
    workers, in the calling thread and without a deadline (the synchronous path, ``engine.runner.run_one``)."""

    def __init__(self, workers: int, max_abandoned: int):
        self.max_abandoned = max_abandoned
        self._pool = (
            ThreadPoolExecutor(workers + max_abandoned, thread_name_prefix="formhooks-plugin")
            if workers > 0
            else None
        )
        self._lock = threading.Lock()
        self._abandoned = 0

    @property
    def abandoned(self) -> int:
        return self._abandoned

    @property
    def saturated(self) -> bool:
        return self._abandoned >= self.max_abandoned

    def call(self, fn: Callable[[], T], timeout: float) -> T:
        if self._pool is None:
            return fn()
        # The caller's context variables (e.g. the secrets to hide from log lines) follow the call.
        future: Future[T] = self._pool.submit(contextvars.copy_context().run, fn)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            with self._lock:
                self._abandoned += 1
            future.add_done_callback(self._returned)
            raise DeadlineExceeded(f"did not finish within {timeout:g} s") from None

    def _returned(self, _: Future) -> None:
        with self._lock:
            self._abandoned -= 1

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
