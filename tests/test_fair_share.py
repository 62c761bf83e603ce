"""Fair share: one integration's backlog to a slow destination does not hold back anyone else's jobs, and
no integration runs more than INTEGRATION_CONCURRENCY jobs at once."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from bson import ObjectId

from app.engine import fairshare
from app.engine.slots import share_of
from app.models import PluginConfig, PluginJob
from tests.conftest import Api
from tests.support.seed import insert_many
from tests.support.sink import Reply
from tests.support.wait import wait_until
from tests.test_metrics import _samples as samples


def backlog(job_id: str, copies: int) -> None:
    """``copies`` more pending jobs like ``job_id`` (as if as many submissions had come in)."""
    coll = PluginJob._get_collection()
    template = coll.find_one({"_id": ObjectId(job_id)})
    docs = []
    for i in range(copies):
        new_id = ObjectId()
        docs.append(
            {**template, "_id": new_id, "dispatch_key": f"copy{i}", "idempotency_key": f"msg_{new_id}"}
        )
    insert_many(coll, docs)


def slow_and_fast(app, sink, delay: float) -> tuple[Api, dict, dict]:
    """Form A with a webhook to a destination that takes ``delay`` s per call, form B with a fast one."""
    api = Api(app.test_client())
    sink.responder = lambda req: Reply(delay=delay if req.path.startswith("/slow") else 0.0)
    slow = api.create_form("A")
    api.add_plugin(slow["id"], "webhook", {"url": sink.url + "/slow"})
    fast = api.create_form("B")
    api.add_plugin(fast["id"], "webhook", {"url": sink.url + "/fast"})
    return api, slow, fast


@pytest.mark.slow
def test_a_backlog_to_a_slow_destination_does_not_delay_another_integration(make_app, sink):
    api, slow, fast = slow_and_fast(make_app(SCHEDULER_ENABLED=True, JOB_TIMEOUT=10), sink, delay=1.0)
    first = api.submit(slow["id"], {"n": 0})["jobs"][0]
    backlog(first, 1999)
    wait_until(lambda: sum(r.path.startswith("/slow") for r in sink.requests) >= 1, what="A's first delivery")
    capped = ("formhooks_jobs_waiting_for_integration_cap", ())
    wait_until(lambda: samples(api.client).get(capped, 0) > 1900, what="A's backlog shown as waiting for its cap")
    wait_until(
        lambda: api.client.get("/readyz").json.get("waiting_for_integration_cap", 0) > 0,
        what="/readyz showing A's jobs waiting for its cap",
    )

    started = time.monotonic()
    jobs = [api.submit(fast["id"], {"n": i})["jobs"][0] for i in range(20)]
    wait_until(
        lambda: all(api.job(j)["status"] == "completed" for j in jobs),
        timeout=5,
        what="B's 20 jobs, within 5 s",
    )
    assert time.monotonic() - started < 5
    running = PluginJob._get_collection().count_documents({"status": "running", "form_id": slow["id"]})
    assert running <= 8  # A never holds more than its integration's share: 4 calls, 4 claimed behind them


def _config(workspace: str) -> str:
    return str(
        PluginConfig._get_collection()
        .insert_one({"workspace_id": workspace, "plugin_id": "webhook"})
        .inserted_id
    )


def _pending(config_id: str, n: int, due: float) -> None:
    workspace = PluginConfig._get_collection().find_one({"_id": ObjectId(config_id)})["workspace_id"]
    PluginJob._get_collection().insert_many(
        [
            {
                "status": "pending",
                "config_id": config_id,
                "workspace_id": workspace,
                "scheduled_for": due,
                "n": i,
            }
            for i in range(n)
        ]
    )


def test_claims_share_slots_round_robin_across_workspaces_and_respect_the_cap(app):
    now = time.time()
    a1, a2, b = _config("A"), _config("A"), _config("B")
    _pending(a1, 50, now - 10)  # A's two integrations came first
    _pending(a2, 50, now - 10)
    _pending(b, 3, now - 1)  # due (the embedded store keeps floats to about 10 µs: not exactly `now`)
    later = _config("C")
    _pending(later, 5, now + 60)  # not due yet

    with app.app_context():
        pick = fairshare.round_robin(PluginJob._get_collection(), limit=8, cap=4, now=now)
    taken = [job["config_id"] for job in pick.jobs]
    assert taken.count(b) == 3  # B gets all it has although A has 100 waiting
    assert taken.count(a1) + taken.count(a2) == 5
    assert later not in taken
    assert pick.waiting_for_cap == (50 - 4) * 2  # beyond the cap of each of A's integrations


def test_a_claim_below_the_slots_still_keeps_the_cap(app):
    now = time.time()
    config = _config("A")
    _pending(config, 6, now)
    with app.app_context():
        coll = PluginJob._get_collection()
        coll.update_many({"n": {"$in": [0, 1]}}, {"$set": {"status": "running"}})
        due = list(coll.find({"status": "pending"}))
        pick = fairshare.within_cap(due, fairshare.running_per_config(coll), cap=4)
    assert len(pick.jobs) == 2
    assert pick.waiting_for_cap == 2


def test_a_live_job_starts_while_another_integrations_slow_calls_hold_their_share(make_app, sink):
    """Without an integration cap, one slow integration holds at most its share of its workspace's threads
    (WORKSPACE_SHARE of them): another integration of the same workspace starts at once."""
    app = make_app(SCHEDULER_ENABLED=True, WORKER_THREADS=4, INTEGRATION_CONCURRENCY=0, JOB_TIMEOUT=10)
    api, slow, fast = slow_and_fast(app, sink, delay=3.0)
    share = app.config["WORKSPACE_SHARE"]
    slow_calls = lambda: sum(r.path.startswith("/slow") for r in sink.requests)  # noqa: E731
    a_jobs = [api.submit(slow["id"], {"n": i})["jobs"][0] for i in range(6)]  # 6 slow calls
    wait_until(lambda: slow_calls() == share_of(share_of(4, share), share), what="A's share of calls")

    b_job = api.submit(fast["id"], {"n": 0})["jobs"][0]
    wait_until(lambda: any(r.path.startswith("/fast") for r in sink.requests), timeout=2, what="B's call")
    assert [api.job(j)["status"] for j in a_jobs].count("completed") == 0  # A's first calls still wait
    assert slow_calls() == share_of(share_of(4, share), share)  # A took no more than its share
    assert wait_until(lambda: api.job(b_job)["status"] == "completed", what="B's job completed")


class CountingFinds:
    """A collection that counts its find calls."""

    def __init__(self, coll):
        self.coll, self.finds, self.filters = coll, 0, []

    def find(self, *args, **kwargs):
        self.finds += 1
        self.filters.append(args[0] if args else kwargs.get("filter"))
        return self.coll.find(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.coll, name)


def test_a_claim_across_integrations_reads_their_jobs_at_once_unless_one_is_left_short(app):
    now = time.time()
    a, b, c = _config("A"), _config("B"), _config("D")
    for config in (a, b, c):  # submissions to forms of three workspaces: their jobs interleave
        _pending(config, 1, now - 10)
    for config in (a, b, c):
        _pending(config, 5, now - 5)
    late = _config("C")
    with app.app_context():
        coll = CountingFinds(PluginJob._get_collection())
        pick = fairshare.round_robin(coll, limit=9, cap=4, now=now, running=Counter())
        assert sorted(Counter(job["config_id"] for job in pick.jobs).values()) == [3, 3, 3]
        assert coll.finds == 1

        _pending(late, 2, now - 1)  # newer than the 18 others: the shared read leaves it short
        coll = CountingFinds(PluginJob._get_collection())
        pick = fairshare.round_robin(coll, limit=4, cap=4, now=now, running=Counter())
    assert Counter(job["config_id"] for job in pick.jobs)[late] == 1
    assert len(pick.jobs) == 4 and len({job["_id"] for job in pick.jobs}) == 4
    assert coll.finds >= 2


@pytest.mark.parametrize("later", [0, 3, 8])
def test_a_claim_of_one_integrations_backlog_takes_its_due_jobs_and_none_scheduled_for_later(app, later):
    now = time.time()
    config = _config("A")
    if later:
        _pending(config, later, now + 60)  # retries waiting for their time, first on the index
    _pending(config, 6, now - 10)
    with app.app_context():
        pick = fairshare.round_robin(PluginJob._get_collection(), limit=4, cap=4, now=now, running=Counter())
    assert len(pick.jobs) == 4
    assert all(job["scheduled_for"] <= now for job in pick.jobs)


def test_a_claim_of_one_integrations_due_backlog_is_one_read_without_a_range(app):
    """The read of a capped integration's next jobs runs every few jobs of its drain: one read on the
    (status, config_id) index, no range on scheduled_for (twice as dear on nx-27017)."""
    now = time.time()
    config = _config("A")
    _pending(config, 50, now - 10)
    with app.app_context():
        coll = CountingFinds(PluginJob._get_collection())
        pick = fairshare.round_robin(coll, limit=2, cap=4, now=now, running=Counter())
    assert len(pick.jobs) == 2
    assert coll.finds == 1
    assert coll.filters == [{"status": "pending", "config_id": config}]


@pytest.mark.parametrize(("integrations", "limit"), [(2, 3), (3, 4), (3, 5), (4, 6)])
def test_a_drain_of_several_backlogs_reads_their_jobs_once_per_claim(app, integrations, limit):
    """Claims that cannot share their slots evenly give the odd ones to each integration in turn: always to
    the same one drained it ahead, the oldest jobs became the others', and every claim needed more reads."""
    now = time.time()
    configs = [_config("A") for _ in range(integrations)]
    for _ in range(40):  # submissions with a webhook to each integration: their jobs interleave
        for config in configs:
            _pending(config, 1, now - 10)
    claims, taken = 12, Counter()
    with app.app_context():
        coll = CountingFinds(PluginJob._get_collection())
        for turn in range(claims):
            pick = fairshare.round_robin(
                coll, limit=limit, cap=4, now=now, running=Counter(), groups=None, turn=turn
            )
            assert len(pick.jobs) == limit
            taken.update(job["config_id"] for job in pick.jobs)
            ids = [job["_id"] for job in pick.jobs]
            coll.update_many({"_id": {"$in": ids}}, {"$set": {"status": "completed"}})
    assert coll.finds <= claims + 1
    assert max(taken.values()) - min(taken.values()) <= 1  # (each integration had its turn)
