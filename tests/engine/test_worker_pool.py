"""The plugin worker pool on its own: how many processes it starts, and what they share."""

from __future__ import annotations

import threading

import pytest

from app import template_budget
from app.engine.workers import Call, WorkerPool, class_ref
from tests.support.bad_plugins import SnoopPlugin
from tests.support.probe_plugins import ModulesPlugin

pytestmark = pytest.mark.slow


def load_call() -> Call:
    return Call(class_ref(SnoopPlugin), {}, None, (), template_budget.current_budget(), 30)


@pytest.fixture
def pool():
    pool = WorkerPool(2, 256, 30)
    yield pool
    pool.shutdown()


def test_concurrent_first_calls_start_no_more_processes_than_the_pool_size(pool):
    callers = 8
    start = threading.Barrier(callers)
    errors: list[BaseException] = []

    def first_call() -> None:
        start.wait()
        try:
            pool.call(load_call(), timeout=30)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=first_call) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(pool.processes) == 2


def test_a_worker_process_holds_no_web_framework(pool):
    call = Call(class_ref(ModulesPlugin), {}, "execute", (None,), template_budget.current_budget(), 30)
    modules = pool.call(call, timeout=30).value
    assert "jinja2" in modules  # what plugins use is there...
    assert not {"flask", "werkzeug", "mongoengine", "pymongo"} & set(modules)  # ...and not the web app
