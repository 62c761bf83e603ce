"""A result someone waits for (a workflow step settling: its run's next step) is written at once, not after
the batching delay that other results wait under load."""

from __future__ import annotations

import threading
import time

import pytest

from app.engine.batching import Batcher


class Recorder(Batcher[str]):
    def __init__(self, busy_delay: float):
        super().__init__(max_delay=busy_delay, busy_delay=busy_delay)
        self.written: dict[str, float] = {}
        self.batches: list[list[str]] = []
        self.done = threading.Event()

    def write(self, batch: list[str]) -> None:
        self.batches.append(list(batch))
        for item in batch:
            self.written[item] = time.monotonic()
        self.done.set()


@pytest.mark.parametrize("delay", [0.5, 1.0, 2.0])
def test_an_urgent_item_is_written_without_waiting_for_the_batch_to_fill(delay):
    writer = Recorder(busy_delay=delay)
    try:
        writer.put("warm-up")
        assert writer.flush(delay * 4)
        sent = time.monotonic()
        writer.put("plain")  # alone it would wait ``delay`` for company
        writer.put("step", urgent=True)
        assert writer.flush(delay * 4)
        assert writer.written["step"] - sent < delay / 2
        assert ["plain", "step"] in writer.batches  # the plain one went with it: still one write
    finally:
        writer.close()


def test_a_plain_item_still_waits_for_company():
    writer = Recorder(busy_delay=0.3)
    try:
        sent = time.monotonic()
        writer.put("a")
        writer.put("b")
        assert writer.flush(2)
        assert writer.written["a"] - sent >= 0.25
        assert writer.batches == [["a", "b"]]
    finally:
        writer.close()
