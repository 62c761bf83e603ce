"""A scheduler's worker threads and plugin processes, shared per workspace.

Claimed jobs wait here, in memory, until a worker thread takes them. Each of the ``threads`` threads takes
the next job round-robin across workspaces, skipping

- a workspace that already runs its share of the threads (``WORKSPACE_SHARE`` of them, at least one),
- a job whose integration already runs its share of its workspace's threads (``WORKSPACE_SHARE`` of those,
  at least one, and at most ``INTEGRATION_CONCURRENCY``), and
- a job whose plugin runs in a worker process while no process is free for it: all ``PLUGIN_PROCESSES`` are
  taken by this scheduler's jobs, or its workspace already holds its share of them.

So a workspace whose destinations are slow, or whose plugins hang until the deadline, holds at most its
share of each kind of slot and another workspace's job starts as soon as it is claimed (as does another
integration's of the same workspace, when one integration's destination is slow); and a job never
holds a thread while it waits for a plugin process. Jobs cannot be pre-empted: the share is what keeps a
workspace alone from taking every slot before another one shows up.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from app.engine.records import JobRecord

Run = Callable[[JobRecord, Any], None]


def share_of(slots: int, share: float) -> int:
    """How many of ``slots`` one workspace may hold: the fraction ``share`` of them, at least one."""
    return max(1, min(slots, int(slots * share)))


def workspace_of(job: Mapping[str, Any]) -> str:
    return str(job.get("workspace_id") or "")


class Slots:
    """Worker threads that run queued jobs within each workspace's share of threads and plugin processes."""

    def __init__(
        self,
        threads: int,
        processes: int,
        share: float,
        needs_process: Callable[[JobRecord], bool],
        run: Run,
        integration_limit: int = 0,
    ):
        """``integration_limit``: threads one integration may hold at most (0: only its share limits it)."""
        self.threads, self.processes = threads, processes
        self.thread_share = share_of(threads, share)
        self.integration_share = share_of(self.thread_share, share)
        if integration_limit > 0:
            self.integration_share = min(self.integration_share, integration_limit)
        self.process_share = share_of(processes, share)
        self._needs_process, self._run = needs_process, run
        self._cond = threading.Condition()
        self._queued: dict[str, list[tuple[JobRecord, Any, bool]]] = {}  # workspace -> (job, arg, process)
        self._running: Counter[str] = Counter()  # threads held, by workspace
        self._per_config: Counter[str] = Counter()  # threads held, by integration
        self._in_process: Counter[str] = Counter()  # plugin processes held, by workspace
        self._closed = False
        self._workers = [
            threading.Thread(target=self._loop, name=f"formhooks-worker-{i}", daemon=True)
            for i in range(threads)
        ]
        for worker in self._workers:
            worker.start()

    def submit(self, job: JobRecord, arg: Any) -> None:
        """Queue ``job``: a thread runs ``run(job, arg)`` when its workspace's share allows."""
        process = self._needs_process(job)
        with self._cond:
            self._queued.setdefault(workspace_of(job), []).append((job, arg, process))
            self._cond.notify()

    def cancel(self, job_id: Any) -> bool:
        """Take a job out of the queue; False when a thread has it already (or never had it)."""
        with self._cond:
            for jobs in self._queued.values():
                for i, (job, _, _) in enumerate(jobs):
                    if job["_id"] == job_id:
                        del jobs[i]
                        return True
        return False

    def running(self) -> Counter[str]:
        """Threads held now, by workspace."""
        with self._cond:
            return Counter(self._running)

    def _next(self) -> tuple[JobRecord, Any, bool] | None:
        """The next job a thread may start, its workspace moved to the back of the line (hold the lock)."""
        processes_free = self.processes - sum(self._in_process.values())
        for workspace, jobs in list(self._queued.items()):
            if not jobs:
                del self._queued[workspace]
                continue
            if self._running[workspace] >= self.thread_share:
                continue
            may_use_process = processes_free > 0 and self._in_process[workspace] < self.process_share
            for i, (job, _, process) in enumerate(jobs):
                busy = self._per_config[job["config_id"]] >= self.integration_share
                if busy or (process and not may_use_process):
                    continue
                item = jobs.pop(i)
                del self._queued[workspace]
                if jobs:
                    self._queued[workspace] = jobs  # back of the line
                self._running[workspace] += 1
                self._per_config[job["config_id"]] += 1
                self._in_process[workspace] += process
                return item
        return None

    def _loop(self) -> None:
        while True:
            with self._cond:
                item = None
                while not self._closed and (item := self._next()) is None:
                    self._cond.wait()
                if item is None:
                    return
            job, arg, process = item
            try:
                self._run(job, arg)
            finally:
                with self._cond:
                    workspace = workspace_of(job)
                    self._running[workspace] -= 1
                    self._per_config[job["config_id"]] -= 1
                    self._in_process[workspace] -= process
                    if self._queued:  # a share it held may let queued jobs start (none queued: none to wake)
                        self._cond.notify_all()

    def shutdown(self) -> None:
        """Start nothing more; queued jobs are dropped (the caller releases them)."""
        with self._cond:
            self._closed = True
            self._queued.clear()
            self._cond.notify_all()
