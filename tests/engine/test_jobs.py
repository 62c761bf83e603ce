"""The job lifecycle: which changes each state allows, resend with a fresh budget, cancel, disable."""

from __future__ import annotations

import pytest
from bson import ObjectId

from app.engine import jobs as lifecycle
from app.models import JobStatus, PluginConfig, PluginJob
from tests.engine.test_queue import _job
from tests.support.commands import commands_sent


@pytest.fixture
def add(app):
    def insert(**fields) -> dict:
        doc = _job(**fields)
        PluginJob._get_collection().insert_one(doc)
        return doc

    return insert


def _status(job: dict) -> str:
    return PluginJob._get_collection().find_one({"_id": job["_id"]})["status"]


def test_every_state_has_a_way_out_but_the_finished_ones_only_by_resend_or_replay():
    sources = {state for states in lifecycle.ALLOWED.values() for state in states}
    assert sources == {s.value for s in JobStatus}
    finished = [t for t, states in lifecycle.ALLOWED.items() if JobStatus.COMPLETED.value in states]
    assert finished == ["resend", "replay"]


@pytest.mark.parametrize("status", ["failed", "cancelled", "completed"])
def test_a_finished_job_is_resent_with_a_fresh_attempt_budget(add, status):
    job = add(status=status, attempts=3, max_attempts=3)
    lifecycle.resend(job["_id"], extra_attempts=5)
    stored = PluginJob._get_collection().find_one({"_id": job["_id"]})
    assert (stored["status"], stored["max_attempts"]) == ("pending", 8)
    assert not lifecycle.out_of_attempts(stored)


@pytest.mark.parametrize("status", ["pending", "running"])
def test_a_job_in_flight_cannot_be_resent(add, status):
    job = add(status=status)
    with pytest.raises(lifecycle.JobStateError, match=f"this one is {status}"):
        lifecycle.resend(job["_id"], 5)
    assert _status(job) == status


def test_resending_the_failed_jobs_of_an_integration_leaves_the_others(add):
    failed = [add(status="failed", config_id="c1") for _ in range(3)]
    others = [add(status="completed", config_id="c1"), add(status="failed", config_id="c2")]
    assert lifecycle.resend_failed("c1", 5) == 3
    assert [_status(j) for j in failed] == ["pending"] * 3
    assert [_status(j) for j in others] == ["completed", "failed"]


def test_only_a_waiting_job_can_be_cancelled(add):
    waiting, running = add(status="pending"), add(status="running")
    lifecycle.cancel(waiting["_id"])
    assert _status(waiting) == "cancelled"
    with pytest.raises(lifecycle.JobStateError, match="this one is running"):
        lifecycle.cancel(running["_id"])


def test_the_attempt_budget_is_spent_at_max_attempts():
    assert not lifecycle.out_of_attempts({"attempts": 2, "max_attempts": 3})
    assert lifecycle.out_of_attempts({"attempts": 3, "max_attempts": 3})


def test_disabling_an_integration_records_why(app):
    cfg_id = ObjectId()
    PluginConfig._get_collection().insert_one({"_id": cfg_id, "form_id": "f", "plugin_id": "webhook", "name": "x"})
    lifecycle.disable_integration(str(cfg_id), "The endpoint answered 410 Gone.")
    stored = PluginConfig._get_collection().find_one({"_id": cfg_id})
    assert not stored["enabled"] and stored["disabled_reason"] == "The endpoint answered 410 Gone."
    assert stored["disabled_at"]


@pytest.mark.parametrize("batch", [1, 1000])
def test_cancelling_and_bringing_forward_waiting_jobs_read_by_equality_and_write_by_id(add, monkeypatch, batch):
    """By any other field (or a ``$in``) the embedded store walks every job held, inside the request that
    deletes an integration or a form, or retries one now: 1.4-2 s at 600,000 jobs."""
    import time

    monkeypatch.setattr(lifecycle, "ID_BATCH", batch)
    later = time.time() + 3600
    held = [add(config_id="a", scheduled_for=later) for _ in range(3)]
    due, running = add(config_id="a"), add(config_id="a", status="running")
    other = add(config_id="b", scheduled_for=later)
    named = [add(config_id="c", submission_id=s) for s in ("s1", "s2", "s3")]
    with commands_sent() as sent:
        assert lifecycle.bring_forward("a", time.time()) == 3
        assert lifecycle.cancel_waiting("gone", submission_id={"$in": ["s1", "s3"]}) == 2
        assert lifecycle.cancel_waiting("gone", config_id="a") == 4
    assert [_status(j) for j in (*held, due, running, other, *named)] == [
        *["cancelled"] * 4, "running", "pending", "cancelled", "pending", "cancelled"
    ]
    assert PluginJob._get_collection().find_one({"_id": other["_id"]})["scheduled_for"] == later
    for name, cmd in sent:
        if name == "find" and cmd["find"] == "plugin_jobs":
            assert all(set(term) == {"$eq"} for term in cmd["filter"].values()), cmd["filter"]
        if name == "update" and cmd["update"] == "plugin_jobs":
            assert all(set(u["q"]) == {"_id", "status"} for u in cmd["updates"]), cmd["updates"]
