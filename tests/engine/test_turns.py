"""The run threads (engine.turns): owners in turns, and no owner above its share of the threads at once."""

from __future__ import annotations

import threading
from collections.abc import Callable

from app.engine.turns import Turns

WAIT = 10.0  # (a bound for a failing test, never reached by a passing one)


def _blocking(started: list[str], name: str, release: threading.Event, ran: threading.Event) -> Callable[[], None]:
    def task() -> None:
        started.append(name)
        ran.set()
        release.wait(WAIT)

    return task


def test_an_owner_with_slow_tasks_leaves_a_thread_for_another_owner():
    """Workspace A's two slow tasks on two threads with a share of one: the second waits, B's runs at once."""
    turns = Turns(2, "test-turns", per_owner=1)
    started: list[str] = []
    release = threading.Event()
    a1, a2, b1 = threading.Event(), threading.Event(), threading.Event()
    turns.submit("A", _blocking(started, "a1", release, a1))
    assert a1.wait(WAIT)
    turns.submit("A", _blocking(started, "a2", release, a2))
    turns.submit("B", _blocking(started, "b1", release, b1))
    assert b1.wait(WAIT)  # B's task took the free thread, ahead of A's second
    assert started == ["a1", "b1"] and not a2.is_set()
    release.set()
    assert a2.wait(WAIT)  # and A's second runs once a thread is free
    assert started == ["a1", "b1", "a2"]


def test_without_a_share_one_owner_may_take_every_thread():
    turns = Turns(2, "test-turns-all")
    started: list[str] = []
    release = threading.Event()
    a1, a2 = threading.Event(), threading.Event()
    turns.submit("A", _blocking(started, "a1", release, a1))
    turns.submit("A", _blocking(started, "a2", release, a2))
    assert a1.wait(WAIT) and a2.wait(WAIT)  # both at once: nobody else has work
    release.set()


def test_owners_take_turns_and_a_failing_task_frees_its_share():
    turns = Turns(1, "test-turns-one", per_owner=1)
    order: list[str] = []
    gate, done = threading.Event(), threading.Event()
    turns.submit("Z", lambda: (order.append("z"), gate.wait(WAIT)))  # holds the thread while the rest queue
    for name in ("a1", "a2", "a3"):
        turns.submit("A", lambda name=name: order.append(name))
    turns.submit("B", lambda: (order.append("b1"), 1 / 0))  # fails: logged, its share given back
    turns.submit("B", lambda: (order.append("b2"), done.set()))
    gate.set()
    assert done.wait(WAIT)
    assert order[:5] == ["z", "a1", "b1", "a2", "b2"]  # one of each owner in turn


def test_a_task_that_exits_its_thread_leaves_the_pool_its_threads():
    """A task raising SystemExit ends its thread: the pool starts another, so later tasks still run."""
    turns = Turns(1, "test-turns-exit", per_owner=1)
    ran = threading.Event()

    def leave() -> None:
        raise SystemExit(3)

    turns.submit("A", leave)
    turns.submit("B", ran.set)
    assert ran.wait(WAIT)
    again = threading.Event()
    turns.submit("A", again.set)
    assert again.wait(WAIT)
