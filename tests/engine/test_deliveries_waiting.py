"""A scheduler knows, without asking the store, whether due jobs were left waiting for its threads
(``Scheduler.deliveries_waiting``): the indexer defers on it, and finishing jobs wake a claim on it."""

from __future__ import annotations

import pytest
from bson import ObjectId

from app.engine.scheduler import Scheduler


@pytest.fixture
def scheduler(app) -> Scheduler:
    """A scheduler that is not started: its polls run in the test's thread."""
    return Scheduler(app)


def _fill(scheduler: Scheduler, free: int) -> None:
    """The last claim filled every slot; ``free`` of them have emptied since."""
    scheduler._maybe_more = True
    for _ in range(scheduler.prefetch - free):
        scheduler._inflight[ObjectId()] = {"config_id": "c", "workspace_id": "w"}


def test_a_poll_with_no_free_slot_keeps_knowing_that_jobs_wait(scheduler, monkeypatch):
    claims: list[int] = []
    monkeypatch.setattr(scheduler.queue, "claim", lambda limit, *a: claims.append(limit) or [])
    _fill(scheduler, free=0)
    scheduler.poll()
    assert claims == []
    assert scheduler.deliveries_waiting  # (a poll here said False: the refill's wake was lost)


@pytest.mark.parametrize("free", [1, 3])
def test_a_claim_that_finds_nothing_due_says_nothing_waits(scheduler, monkeypatch, free):
    claims: list[int] = []
    monkeypatch.setattr(scheduler.queue, "claim", lambda limit, *a: claims.append(limit) or [])
    _fill(scheduler, free)
    scheduler.poll()
    assert claims == [free]
    assert not scheduler.deliveries_waiting


def test_a_new_scheduler_knows_of_no_waiting_delivery(scheduler):
    assert not scheduler.deliveries_waiting
