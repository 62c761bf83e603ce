"""Destination rate limits shared by every process: a job beyond its plugin's limit waits, it does not fail.

Time is cut into fixed windows of ``period`` seconds, each with ``calls`` slots. A slot is a document
whose ``_id`` is ``{plugin}:{key}:{window}:{slot}``; taking one is an insert, and a duplicate-key error
means another job (in this or any other process) has it. A job that finds its window full reserves the
first free slot of a later window and is deferred until that window opens; when it comes back it finds
its reservation (by ``holder``, the job id) and goes. A backlog is thus spread over the coming windows
in one pass instead of every job polling the limit again and again.

Only inserts by ``_id`` and equality on one indexed field are used (fast on MongoDB and nx-27017 alike);
slots of past windows are purged now and then.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from app.contract import Plugin, RateLimit
from app.db import database
from app.engine.schemas import config_schema_of
from app.secrets_box import SecretBox

log = logging.getLogger(__name__)

COLLECTION = "rate_limit_slots"


class RateLimiter:
    """Takes or reserves rate-limit slots in the store."""

    def __init__(self, box: SecretBox | None = None, max_probes: int = 500, purge_every: float = 60.0):
        self.box = box
        self.max_probes = max_probes
        self.purge_every = purge_every
        self._hints: dict[str, tuple[int, int]] = {}  # bucket -> first (window, slot) not known to be taken
        self._lock = threading.Lock()
        self._indexed = False
        self._purged_at = 0.0

    @property
    def coll(self) -> Collection:
        return database()[COLLECTION]

    def delay_for(
        self, plugin: Plugin | None, job: Mapping[str, Any], stored_config: dict[str, Any]
    ) -> float:
        """Seconds ``job`` must wait for its destination's rate limit; 0 means go now (a slot is taken)."""
        if plugin is None or plugin.rate_limit is None:
            return 0.0
        try:
            config = self.box.open(config_schema_of(plugin), stored_config) if self.box else stored_config
            key = plugin.rate_limit_key(config)
        except Exception:  # the attempt itself will report a config that cannot be read
            log.warning("no rate-limit key for job %s; running it unlimited", job.get("_id"), exc_info=True)
            return 0.0
        if key is None:
            return 0.0
        return self.acquire(f"{plugin.id}:{key}", plugin.rate_limit, str(job["_id"]))

    def acquire(self, bucket: str, limit: RateLimit, holder: str, now: float | None = None) -> float:
        """Take a slot of ``bucket`` for ``holder`` now (returns 0) or reserve a later one (returns the wait)."""
        now = time.time() if now is None else now
        self._prepare(now)
        held = self.coll.find_one({"holder": holder}, {"start": 1})
        if held is not None:
            if held["start"] > now:
                return held["start"] - now  # woken early (e.g. a manual retry): the reservation stands
            self.coll.update_one({"_id": held["_id"]}, {"$set": {"holder": None}})  # used up
            return 0.0
        current = int(now // limit.period)
        with self._lock:
            window, slot = max(self._hints.get(bucket, (current, 0)), (current, 0))
        for _ in range(self.max_probes):
            start = window * limit.period
            try:
                self.coll.insert_one(
                    {
                        "_id": f"{bucket}:{window}:{slot}",
                        "start": start,
                        "expires": start + limit.period,
                        "holder": holder if start > now else None,
                    }
                )
            except DuplicateKeyError:
                window, slot = _next(window, slot, limit)
                continue
            self._hint(bucket, _next(window, slot, limit))
            return max(0.0, start - now)
        self._hint(bucket, (window, slot))
        return max(limit.period, window * limit.period - now)  # no reservation: come back and try again

    def _hint(self, bucket: str, position: tuple[int, int]) -> None:
        with self._lock:
            self._hints[bucket] = max(self._hints.get(bucket, position), position)

    def _prepare(self, now: float) -> None:
        if not self._indexed:
            self.coll.create_index("holder")
            self._indexed = True
        if now - self._purged_at >= self.purge_every:
            self._purged_at = now
            self.coll.delete_many({"expires": {"$lt": now}})


def _next(window: int, slot: int, limit: RateLimit) -> tuple[int, int]:
    return (window, slot + 1) if slot + 1 < limit.calls else (window + 1, 0)
