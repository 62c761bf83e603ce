"""Job claims and state changes on the job collection: races, fencing, leases and reaping."""

from __future__ import annotations

import threading
import time

import pytest
from bson import ObjectId

from app.engine.queue import JobQueue
from app.models import JobStatus, PluginJob


def _job(**fields) -> dict:
    doc = {
        "_id": ObjectId(), "config_id": "c", "form_id": "f", "workspace_id": "w", "plugin_id": "webhook",
        "event": "form.submitted", "status": "pending", "scheduled_for": time.time() - 1, "attempts": 0,
        "max_attempts": 3, "payload": {}, "idempotency_key": "k",
    }
    doc.update(fields)
    doc.setdefault("dispatch_key", str(doc["_id"]))
    return doc


@pytest.fixture
def jobs(app):
    coll = PluginJob._get_collection()

    def add(count: int = 1, **fields) -> list[dict]:
        docs = [_job(**fields) for _ in range(count)]
        coll.insert_many(docs)
        return docs

    return add


def _stored(job: dict) -> dict:
    return PluginJob._get_collection().find_one({"_id": job["_id"]})


def test_claiming_takes_due_jobs_marks_them_running_and_spends_an_attempt(jobs):
    [job] = jobs()
    [claimed] = JobQueue("a", lease_seconds=30).claim(10)
    stored = _stored(job)
    assert (stored["status"], stored["lease_owner"], stored["attempts"]) == ("running", "a", 1)
    assert stored["claim_token"] == claimed["claim_token"] and claimed["attempts"] == 1


def test_jobs_scheduled_for_later_are_not_claimed(jobs):
    jobs(3, scheduled_for=time.time() + 3600)
    [due] = jobs()
    assert [j["_id"] for j in JobQueue("a", 30).claim(10)] == [due["_id"]]


def test_owners_claiming_at_the_same_time_never_share_a_job(jobs):
    jobs(200)
    taken: dict[str, list] = {}
    start = threading.Barrier(4)

    def worker(name: str) -> None:
        queue, mine = JobQueue(name, 30), []
        start.wait()
        while batch := queue.claim(7):
            mine.extend(j["_id"] for j in batch)
        taken[name] = mine

    threads = [threading.Thread(target=worker, args=(f"owner{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    every = [job_id for mine in taken.values() for job_id in mine]
    assert len(every) == len(set(every)) == 200


def test_a_stale_fencing_token_cannot_finish_a_job(jobs):
    [job] = jobs()
    old = JobQueue("dead", lease_seconds=-1)  # a lease that has already run out
    [stale] = old.claim(1)
    assert JobQueue("reaper", 30).reap_expired() == (1, 0)
    [fresh] = JobQueue("alive", 30).claim(1)
    assert old.complete(stale) is False
    assert _stored(job)["status"] == "running" and _stored(job)["lease_owner"] == "alive"
    assert JobQueue("alive", 30).complete(fresh) is True
    assert _stored(job)["status"] == "completed"


def test_reaping_requeues_jobs_with_attempts_left_and_fails_the_exhausted(jobs):
    left = jobs(2, attempts=0, max_attempts=3)
    spent = jobs(1, attempts=2, max_attempts=3)
    JobQueue("dead", lease_seconds=-1).claim(10)  # leases that have already run out
    assert JobQueue("reaper", 30).reap_expired() == (2, 1)
    assert [_stored(j)["status"] for j in left] == ["pending", "pending"]
    failed = _stored(spent[0])
    assert failed["status"] == "failed" and "may have been sent" in failed["last_error"]


def test_reaping_leaves_live_leases_alone(jobs):
    jobs(2)
    JobQueue("alive", 30).claim(10)
    assert JobQueue("reaper", 30).reap_expired() == (0, 0)


def test_renewing_extends_only_this_owners_leases(jobs):
    jobs(2)
    [a] = JobQueue("me", lease_seconds=1).claim(1)
    [b] = JobQueue("other", lease_seconds=1).claim(1)
    before = _stored(a)["lease_expires_at"]
    mine = JobQueue("me", lease_seconds=30)
    assert mine.renew([j["_id"] for j in PluginJob._get_collection().find({})]) == 1
    assert _stored(a)["lease_expires_at"] > before + 20
    assert _stored(b)["lease_expires_at"] < before + 20


def test_releasing_refunds_the_attempt_and_makes_the_job_due_now(jobs):
    [job] = jobs()
    queue = JobQueue("a", 30)
    [claimed] = queue.claim(1)
    assert queue.release(claimed)
    stored = _stored(job)
    assert (stored["status"], stored["attempts"], stored["claim_token"]) == ("pending", 0, None)


def test_a_retry_is_due_at_its_time_with_the_error_kept(jobs):
    [job] = jobs()
    queue = JobQueue("a", 30)
    [claimed] = queue.claim(1)
    when = time.time() + 120
    assert queue.retry_at(claimed, when, "HTTP 503")
    stored = _stored(job)
    assert (stored["status"], stored["last_error"]) == ("pending", "HTTP 503")
    assert stored["scheduled_for"] == pytest.approx(when, abs=0.01)
    assert queue.claim(1) == []


def test_finished_states_leave_the_queue(jobs):
    done, failed, cancelled = jobs(3)
    queue = JobQueue("a", 30)
    claimed = {j["_id"]: j for j in queue.claim(3)}
    queue.complete(claimed[done["_id"]])
    queue.fail(claimed[failed["_id"]], "HTTP 400")
    queue.cancel(claimed[cancelled["_id"]], "The integration was deleted.")
    assert [_stored(j)["status"] for j in (done, failed, cancelled)] == [
        JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED
    ]
    assert queue.claim(10) == []
