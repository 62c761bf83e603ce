"""The two store-backed primitives of the accounts code: the lease lock and the rate-limit counters."""

from __future__ import annotations

import time

import pytest

from app.auth.locks import COLLECTION, held
from app.auth.store_counters import COLLECTION as COUNTERS
from app.auth.store_counters import StoreCounters
from app.db import database
from app.errors import APIError


def test_a_held_lock_makes_others_wait_then_answer_409(app):
    with app.app_context(), held("owners:x"):
        with pytest.raises(APIError) as err, held("owners:x", wait=0.05):
            pass
        assert err.value.status == 409
    with app.app_context(), held("owners:x", wait=0.05):  # released: free again
        pass


def test_a_lock_left_by_a_crashed_holder_expires(app):
    with app.app_context():
        database()[COLLECTION].insert_one({"_id": "owners:y", "holder": "dead", "until": time.time() - 1})
        with held("owners:y", wait=0.05):
            assert database()[COLLECTION].find_one({"_id": "owners:y"})["holder"] != "dead"


def test_counters_count_within_a_window_and_start_again_after_it(app):
    with app.app_context():
        counters = StoreCounters()
        assert [counters.incr("k", 60) for _ in range(3)] == [1, 2, 3]
        assert counters.get("k") == 3 and counters.get_expiry("k") > time.time() + 50
        database()[COUNTERS].update_one({"_id": "k"}, {"$set": {"expires_at": time.time() - 1}})
        assert counters.get("k") == 0
        assert counters.incr("k", 60) == 1
        counters.clear("k")
        assert counters.get("k") == 0 and counters.check()
