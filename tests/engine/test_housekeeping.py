"""The scheduler's periodic passes come from one list (engine/housekeeping.PASSES): a pass added there runs
at its interval, and one that fails runs again at the next."""

from __future__ import annotations

import threading

import pytest

from app.engine import housekeeping
from app.engine.housekeeping import Pass
from app.services import services
from tests.support.wait import wait_until


@pytest.mark.parametrize("fails", [False, True])
def test_a_pass_added_to_the_list_runs_at_its_interval(make_app, monkeypatch, fails):
    runs: list[object] = []
    ran_twice = threading.Event()

    def probe(scheduler) -> None:
        runs.append(scheduler)
        if len(runs) >= 2:
            ran_twice.set()
        if fails:
            raise RuntimeError("a bug in the pass")

    monkeypatch.setattr(housekeeping, "PASSES", [*housekeeping.PASSES, Pass("probe", lambda cfg: 0.1, probe)])
    app = make_app(SCHEDULER_ENABLED=True)
    wait_until(ran_twice.is_set, timeout=5, what="the pass run twice")
    assert runs[0] is services(app).scheduler


def test_every_pass_has_its_own_schedule(live_app):
    scheduler = services(live_app).scheduler
    scheduled = {job.id for job in scheduler._aps.get_jobs()}
    assert {task.name for task in housekeeping.PASSES} <= scheduled
    assert "poll" in scheduled


def test_a_pass_is_skipped_while_the_store_is_known_to_be_down(live_app, monkeypatch):
    scheduler = services(live_app).scheduler
    runs: list[object] = []
    monkeypatch.setattr(housekeeping, "PASSES", [Pass("probe", lambda cfg: 60, runs.append)])
    monkeypatch.setattr(type(scheduler.health), "down", property(lambda self: True))
    scheduler.housekeep("probe")
    assert runs == []
    monkeypatch.setattr(type(scheduler.health), "down", property(lambda self: False))
    scheduler.housekeep("probe")
    assert runs == [scheduler]
