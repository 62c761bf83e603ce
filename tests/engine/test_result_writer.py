"""Attempt results are written by the workers themselves (engine.writer on engine.batching.GroupCommit): a
result alone is written at once, results that arrive during a write share the next one, and a worker goes
on (its ``then``: the job's signals, a workflow's next step) only once its own result is written."""

from __future__ import annotations

import threading
import time

import pytest

from app.engine import writer as writer_module
from app.engine.batching import GroupCommit
from app.engine.writer import ResultWriter
from tests.support.wait import wait_until


class HeldWrites:
    """A ``write_group`` that records each group and, while ``hold`` is clear, blocks in it."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.written: set[str] = set()
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()

    def __call__(self, group: list[str]) -> None:
        self.groups.append(list(group))
        self.entered.set()
        self.hold.wait(10)
        self.written.update(group)


@pytest.mark.parametrize("items", [1, 3])
def test_a_caller_alone_writes_at_once_in_its_own_thread(items):
    seen: list[tuple[list[int], str]] = []
    group = GroupCommit(lambda batch: seen.append((batch, threading.current_thread().name)))
    started = time.monotonic()
    for n in range(items):
        group.submit(n)
    assert time.monotonic() - started < 0.05  # no timer waited for company
    assert seen == [([n], threading.current_thread().name) for n in range(items)]


@pytest.mark.parametrize("others", [1, 2, 5])
def test_callers_that_arrive_during_a_write_share_the_next_and_return_only_once_it_is_written(others):
    writes = HeldWrites()
    group = GroupCommit(writes)
    writes.hold.clear()
    returned: dict[str, bool] = {}

    def caller(item: str) -> None:
        group.submit(item)
        returned[item] = item in writes.written  # what its caller sees on return

    first = threading.Thread(target=caller, args=("first",))
    first.start()
    assert writes.entered.wait(5)
    rest = [threading.Thread(target=caller, args=(f"w{n}",)) for n in range(others)]
    for thread in rest:
        thread.start()
    wait_until(lambda: group.waiting == others, what="the others queued behind the write in flight")
    assert returned == {}  # nobody went on while the first write was held
    writes.hold.set()
    for thread in [first, *rest]:
        thread.join(5)
    assert len(writes.groups) == 2 and writes.groups[0] == ["first"]
    assert sorted(writes.groups[1]) == sorted(f"w{n}" for n in range(others))  # one write for all of them
    assert returned == dict.fromkeys(["first", *(f"w{n}" for n in range(others))], True)


@pytest.mark.parametrize("fails", [False, True])
def test_a_results_then_runs_in_the_worker_after_its_write(monkeypatch, fails):
    order: list[str] = []

    def apply_all(changes, attempts=()):
        order.append(f"write {len(changes)}")
        if fails:
            raise RuntimeError("not a store fault: given up, left to the lease")

    monkeypatch.setattr(writer_module, "apply_all", apply_all)
    ran_on: list[str] = []
    ResultWriter().submit(
        None, object(), lambda: (order.append("then"), ran_on.append(threading.current_thread().name))
    )
    assert order == ["write 1", "then"]
    assert ran_on == [threading.current_thread().name]
