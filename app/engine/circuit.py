"""A circuit breaker per integration config, and per workflow step.

After ``threshold`` consecutive failures the circuit opens: the config's jobs are deferred (attempts not
spent) for a cool-down that doubles on every failed trial. When the cool-down ends one job runs as the trial
(half-open); its success closes the circuit, its failure reopens it. A config that has only failed for
``disable_after`` seconds is disabled with the reason recorded.

State lives on the PluginConfig document (``circuit``), so every process sees the same circuit; a workflow
step's, in a document of its own in ``step_circuits`` keyed by the step (engine.jobs.step_key), made at its
first failure. A step has no integration to disable: its circuit only opens. Times are epoch seconds.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from app.db import database
from app.engine.jobs import disable_integration
from app.engine.records import ConfigRecord
from app.models import PluginConfig

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
STEP_CIRCUITS = "step_circuits"


def step_circuits() -> Collection:
    """The circuits of workflow steps: ``{"_id": <step key>, "circuit": {...}}``."""
    return database()[STEP_CIRCUITS]


def step_circuit_docs(keys: list[str]) -> dict[str, dict[str, Any]]:
    """The circuit documents of workflow steps ``keys`` (engine.jobs.step_key), one read; a step that never
    failed has none and is absent."""
    return {doc["_id"]: doc for doc in step_circuits().find({"_id": {"$in": keys}})} if keys else {}


@dataclass(frozen=True)
class Admission:
    """Whether a job may run now: ``run``; or wait ``defer`` seconds. ``trial`` marks the half-open probe."""

    run: bool
    defer: float = 0.0
    trial: bool = False
    circuit: dict[str, Any] | None = None  # the circuit as this admission left it, when it changed it


def is_closed(config: ConfigRecord | dict[str, Any]) -> bool:
    """The circuit lets jobs run without asking it: a copy of the config read a moment ago may start them."""
    return (config.get("circuit") or {}).get("state", CLOSED) == CLOSED


def state_of(config: ConfigRecord | dict[str, Any]) -> dict[str, Any]:
    """The circuit as shown by the API."""
    c = config.get("circuit") or {}
    return {
        "state": c.get("state", CLOSED),
        "consecutive_failures": c.get("failures", 0),
        "cooldown_seconds": c.get("cooldown"),
        "next_trial_at": c.get("next_trial_at"),
        "failing_since": c.get("failing_since"),
    }


def retry_now(config_id: ObjectId, now: float) -> bool:
    """End an open circuit's cool-down at ``now``: the next job of the config runs as its trial. False when
    the circuit is not open (closed, or a trial is already running)."""
    found = PluginConfig._get_collection().update_one(
        {"_id": config_id, "circuit.state": OPEN, "circuit.next_trial_at": {"$gt": now}},
        {"$set": {"circuit.next_trial_at": now}},
    )
    return bool(found.matched_count)


class CircuitBreaker:
    """The circuit of each config; ``clock`` (epoch seconds) is replaceable for tests."""

    def __init__(
        self,
        threshold: int,
        cooldown: float,
        cooldown_max: float,
        disable_after: float,
        trial_timeout: float,
        clock: Callable[[], float] = time.time,
        store: Callable[[], Collection] = PluginConfig._get_collection,
        disable: Callable[[Any, str], None] | None = disable_integration,
    ):
        """``store``: the collection holding the circuits (integration configs by default, or
        ``step_circuits``, whose documents are made on a first failure); ``disable``: what disables a config
        that only failed for ``disable_after`` seconds (None: nothing is disabled)."""
        self.clock = clock
        self.store, self.disable = store, disable
        self.threshold = threshold
        self.cooldown = cooldown
        self.cooldown_max = cooldown_max
        self.disable_after = disable_after
        self.trial_timeout = trial_timeout

    @property
    def coll(self) -> Collection:
        return self.store()

    def admit(self, config: ConfigRecord) -> Admission:
        c = config.get("circuit") or {}
        state = c.get("state", CLOSED)
        if state == CLOSED:
            return Admission(run=True)
        now = self.clock()
        if state == OPEN and now < c.get("next_trial_at", 0):
            return Admission(run=False, defer=c["next_trial_at"] - now)
        if state == HALF_OPEN and now < c.get("trial_started_at", 0) + self.trial_timeout:
            return Admission(run=False, defer=min(5.0, self.trial_timeout))
        # The cool-down is over (or a trial was lost with its process): one job takes the trial.
        taken = self.coll.update_one(
            {"_id": config["_id"], "circuit.state": state, "circuit.next_trial_at": c.get("next_trial_at")},
            {"$set": {"circuit.state": HALF_OPEN, "circuit.trial_started_at": now}},
        )
        if taken.modified_count:
            return Admission(run=True, trial=True, circuit={**c, "state": HALF_OPEN, "trial_started_at": now})
        return Admission(run=False, defer=1.0)

    def succeeded(self, config: ConfigRecord) -> dict[str, Any] | None:
        """Record a success; returns the new circuit when it changed."""
        c = config.get("circuit") or {}
        if c.get("state", CLOSED) == CLOSED and not c.get("failures"):
            return None  # the common case costs no write
        closed = {"state": CLOSED, "failures": 0}
        self.coll.update_one({"_id": config["_id"]}, {"$set": {"circuit": closed}})
        return closed

    def failed(self, config: ConfigRecord, trial: bool) -> tuple[dict[str, Any], str | None]:
        """Record a failure. Returns the new circuit, and a reason when the config was disabled."""
        now = self.clock()
        c = config.get("circuit") or {}
        failing_since = c.get("failing_since") or now
        failures = c.get("failures", 0) + 1
        fields: dict[str, Any] = {"failing_since": failing_since}
        if trial or (c.get("state", CLOSED) == CLOSED and failures >= self.threshold):
            cooldown = (
                min(self.cooldown_max, c.get("cooldown", self.cooldown / 2) * 2) if trial else self.cooldown
            )
            fields.update(
                {"state": OPEN, "cooldown": cooldown, "opened_at": now, "next_trial_at": now + cooldown}
            )
        if config.get("circuit") is None and self.disable is None:  # a step's first failure: its document
            with contextlib.suppress(DuplicateKeyError):  # (no upsert: nx-27017 makes a dotted $inc a key)
                self.coll.insert_one({"_id": config["_id"], "circuit": {}})
        self.coll.update_one(
            {"_id": config["_id"]},
            {"$set": {f"circuit.{k}": v for k, v in fields.items()}, "$inc": {"circuit.failures": 1}},
        )
        circuit = {**c, **fields, "failures": failures}
        if self.disable is not None and now - failing_since >= self.disable_after:
            days = self.disable_after / 86400
            reason = f"Disabled after failing for {days:g} days without a single success."
            self.disable(config["_id"], reason)
            return circuit, reason
        return circuit, None
