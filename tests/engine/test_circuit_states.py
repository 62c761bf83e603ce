"""The circuit breaker's states with a fake clock: open after N failures, cool-down, one trial, close, disable."""

from __future__ import annotations

import pytest
from bson import ObjectId

from app.engine.circuit import CircuitBreaker
from app.models import PluginConfig


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(app, clock) -> CircuitBreaker:
    return CircuitBreaker(threshold=3, cooldown=60, cooldown_max=200, disable_after=3600, trial_timeout=30, clock=clock)


@pytest.fixture
def config(app) -> dict:
    cfg = {"_id": ObjectId(), "form_id": "f", "plugin_id": "webhook", "name": "Hook", "enabled": True}
    PluginConfig._get_collection().insert_one(cfg)
    return cfg


def _stored(config: dict) -> dict:
    return PluginConfig._get_collection().find_one({"_id": config["_id"]})


def _fail(breaker: CircuitBreaker, config: dict, times: int = 1, trial: bool = False) -> tuple[dict, str | None]:
    result: tuple[dict, str | None] = ({}, None)
    for _ in range(times):
        result = breaker.failed(_stored(config), trial)
    return result


def test_it_stays_closed_below_the_threshold(breaker, config):
    circuit, _ = _fail(breaker, config, 2)
    assert circuit.get("state", "closed") == "closed"
    assert breaker.admit(_stored(config)).run


def test_it_opens_at_the_threshold_and_defers_for_the_cooldown(breaker, config, clock):
    circuit, _ = _fail(breaker, config, 3)
    assert circuit["state"] == "open"
    clock.now += 20
    admission = breaker.admit(_stored(config))
    assert (admission.run, admission.defer) == (False, 40)


def test_after_the_cooldown_exactly_one_job_takes_the_trial(breaker, config, clock):
    _fail(breaker, config, 3)
    clock.now += 61
    first, second = breaker.admit(_stored(config)), breaker.admit(_stored(config))
    assert (first.run, first.trial) == (True, True)
    assert second.run is False
    assert _stored(config)["circuit"]["state"] == "half_open"


def test_a_successful_trial_closes_the_circuit(breaker, config, clock):
    _fail(breaker, config, 3)
    clock.now += 61
    breaker.admit(_stored(config))
    assert breaker.succeeded(_stored(config)) == {"state": "closed", "failures": 0}
    assert breaker.admit(_stored(config)).run


def test_a_failed_trial_reopens_with_a_doubled_cooldown_up_to_the_ceiling(breaker, config, clock):
    _fail(breaker, config, 3)
    cooldowns = []
    for _ in range(3):
        clock.now += 1000
        assert breaker.admit(_stored(config)).trial
        circuit, _ = _fail(breaker, config, trial=True)
        cooldowns.append(circuit["cooldown"])
    assert cooldowns == [120, 200, 200]


def test_a_lost_trial_is_taken_again_after_its_timeout(breaker, config, clock):
    _fail(breaker, config, 3)
    clock.now += 61
    assert breaker.admit(_stored(config)).trial  # its process dies: no success, no failure recorded
    clock.now += 10
    assert not breaker.admit(_stored(config)).run
    clock.now += 30
    assert breaker.admit(_stored(config)).trial


def test_only_failures_for_the_disable_period_disable_the_config(breaker, config, clock):
    _fail(breaker, config, 1)
    clock.now += 3599
    assert _fail(breaker, config)[1] is None
    clock.now += 1
    _, reason = _fail(breaker, config)
    assert reason == "Disabled after failing for 0.0416667 days without a single success."
    assert not _stored(config)["enabled"]


def test_a_success_between_failures_starts_the_count_again(breaker, config):
    _fail(breaker, config, 2)
    breaker.succeeded(_stored(config))
    circuit, _ = _fail(breaker, config, 2)
    assert circuit.get("state", "closed") == "closed"
