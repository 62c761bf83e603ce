"""The plugin worker pool on its own: how many processes it starts, and what they share."""

from __future__ import annotations

import json
import threading

import pytest

from app import template_budget
from app.engine.workers import OUTPUT_LIMIT, Call, Reply, WorkerPool, class_ref
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


@pytest.mark.parametrize(
    "raw",
    [
        b"\x80\x04K\x01.",  # a pickle
        b"[]",
        b'{"logs": 5}',
        b'{"logs": [["a", "loud", "b"]]}',
        b'{"output_dropped": "many"}',
        b'{"error": "x"}',
    ],
)
def test_an_answer_that_is_not_a_reply_is_refused(raw):
    with pytest.raises((ValueError, TypeError, KeyError)):
        Reply.decode(raw)


def test_a_reply_is_bounded_whoever_wrote_it():
    raw = json.dumps({"logs": [["x", 30, "y" * 1000]] * 1000, "output": "z" * 10**6, "output_dropped": 3})
    reply = Reply.decode(raw.encode())
    assert sum(len(message) for _, _, message in reply.logs) <= OUTPUT_LIMIT
    assert reply.logs_dropped == 1000 - len(reply.logs) > 0
    assert len(reply.output) == OUTPUT_LIMIT and reply.output_dropped == 3
