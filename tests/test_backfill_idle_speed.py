"""A backfill goes as fast as deliveries allow while nothing live waits or runs, and keeps to its small
in-flight limit (live jobs first) as soon as something does."""

from __future__ import annotations

import time

from bson import ObjectId

from app.engine import operations
from app.models import PluginJob
from tests.test_backfill_replay import FIELDS, _hook, _insert_submissions

SMALL, IDLE = 4, 40


def _step() -> operations.Step:
    operations._backlog["at"] = float("-inf")  # (each step asks the store afresh)
    return operations.step(
        "test", 30.0, batch_size=100, inflight_limit=SMALL, max_attempts=5, idle_inflight_limit=IDLE
    )


def _started(api, app) -> tuple[dict, dict]:
    form = api.create_form("Leads", FIELDS)
    hook = _hook(api, form)
    with app.app_context():
        _insert_submissions(form, 200)
    assert api.post(f"/api/plugin-configs/{hook['id']}/backfill", {}).status_code == 202
    assert _step().prepared
    return form, hook


def _live_job(api, form: dict, **fields) -> None:
    """A live submission's job (no operation), in the state ``fields`` say."""
    sub = api.submit(form["id"], {"email": "live@example.com"})
    PluginJob._get_collection().update_one({"_id": ObjectId(sub["jobs"][0])}, {"$set": fields})


def test_with_nothing_live_a_backfill_keeps_many_jobs_in_flight(api, app):
    _started(api, app)
    assert _step().done == IDLE
    assert _step().throttled  # its own jobs fill the idle limit: it waits for them, not for nothing


def test_a_live_job_waiting_or_running_brings_the_backfill_back_to_its_small_limit(api, app):
    for state in ({"status": "pending", "scheduled_for": time.time() - 1}, {"status": "running"}):
        PluginJob._get_collection().delete_many({})
        form, hook = _started(api, app)
        _live_job(api, form, **state)
        assert _step().done == SMALL and _step().throttled, state
        PluginJob._get_collection().delete_many({"operation_id": None})  # the live job is done
        assert _step().done == IDLE - SMALL
        api.post(f"/api/operations/{api.get('/api/operations').json['items'][0]['id']}/cancel")


def test_a_live_retry_scheduled_for_later_does_not_hold_the_backfill_back(api, app):
    form, _ = _started(api, app)
    _live_job(api, form, status="pending", scheduled_for=time.time() + 3600)
    assert _step().done == IDLE
