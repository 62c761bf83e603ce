"""The store-backed rate limiter: slots per window shared by every process, reservations for the rest."""

from __future__ import annotations

from app.contract import RateLimit
from app.db import database
from app.engine.ratelimit import COLLECTION, RateLimiter

LIMIT = RateLimit(calls=2, period=10.0)
NOW = 1_000_005.0  # 5 s into window 100000


def test_it_grants_the_calls_of_a_window_then_reserves_later_windows(app):
    limiter = RateLimiter()
    waits = [limiter.acquire("slack:C1", LIMIT, f"job{i}", now=NOW) for i in range(5)]
    assert waits == [0.0, 0.0, 5.0, 5.0, 15.0]


def test_limiters_of_different_processes_share_the_slots(app):
    first, second = RateLimiter(), RateLimiter()  # each keeps its own hints, as separate processes would
    assert first.acquire("slack:C1", LIMIT, "a", now=NOW) == 0.0
    assert second.acquire("slack:C1", LIMIT, "b", now=NOW) == 0.0
    assert second.acquire("slack:C1", LIMIT, "c", now=NOW) == 5.0
    assert first.acquire("slack:C1", LIMIT, "d", now=NOW) == 5.0


def test_a_deferred_job_uses_its_reservation_when_it_comes_back(app):
    limiter = RateLimiter()
    for holder in ("a", "b"):
        limiter.acquire("k", LIMIT, holder, now=NOW)
    assert limiter.acquire("k", LIMIT, "late", now=NOW) == 5.0
    assert limiter.acquire("k", LIMIT, "late", now=NOW + 1) == 4.0  # woken early: same reservation
    assert limiter.acquire("k", LIMIT, "late", now=NOW + 5) == 0.0
    # Its slot is used up: another attempt of the same job needs a new slot.
    assert limiter.acquire("k", LIMIT, "late", now=NOW + 5) == 0.0
    assert limiter.acquire("k", LIMIT, "other", now=NOW + 5) == 10.0


def test_buckets_are_independent(app):
    limiter = RateLimiter()
    assert [limiter.acquire("k1", LIMIT, f"x{i}", now=NOW) for i in range(2)] == [0.0, 0.0]
    assert limiter.acquire("k2", LIMIT, "y", now=NOW) == 0.0


def test_slots_of_past_windows_are_purged(app):
    limiter = RateLimiter(purge_every=0)
    limiter.acquire("k", LIMIT, "a", now=NOW)
    limiter.acquire("k", LIMIT, "b", now=NOW + 100)
    assert [d["_id"] for d in database()[COLLECTION].find()] == ["k:100010:0"]
