"""Rate-limit counters in the app's own store (a ``limits`` storage), so a limit holds across gunicorn
workers and hosts even on the embedded store, whose missing operators rule out limits' MongoDB storage.

Fixed windows only: one document per key, ``{_id: key, count, expires_at}``: inserted by the first hit of
a window, counted with ``$inc`` after it.
"""

from __future__ import annotations

import time

from limits.storage import Storage
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from app.db import database

COLLECTION = "rate_limits"


class StoreCounters(Storage):
    """``limits`` storage on the app's database (scheme ``formhooks://``)."""

    STORAGE_SCHEME = ["formhooks"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str) -> None:
        super().__init__(uri, wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception]:
        return PyMongoError

    @staticmethod
    def _coll():
        return database()[COLLECTION]

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        coll, now = self._coll(), time.time()
        coll.delete_one({"_id": key, "expires_at": {"$lte": now}})  # the window is over: start a new one
        try:
            coll.insert_one({"_id": key, "count": amount, "expires_at": now + expiry})
            return amount
        except DuplicateKeyError:  # the window is running (or another worker opened it just now)
            pass
        doc = coll.find_one_and_update(
            {"_id": key}, {"$inc": {"count": amount}}, return_document=ReturnDocument.AFTER
        )
        if doc is None:  # deleted meanwhile by a worker that saw it expire
            return self.incr(key, expiry, amount)
        return int(doc["count"])

    def _live(self, key: str) -> dict | None:
        doc = self._coll().find_one({"_id": key})
        return doc if doc is not None and doc["expires_at"] > time.time() else None

    def get(self, key: str) -> int:
        doc = self._live(key)
        return int(doc["count"]) if doc else 0

    def get_expiry(self, key: str) -> float:
        doc = self._live(key)
        return float(doc["expires_at"]) if doc else time.time()

    def check(self) -> bool:
        try:
            database().command("ping")
            return True
        except PyMongoError:
            return False

    def reset(self) -> int | None:
        return self._coll().delete_many({}).deleted_count

    def clear(self, key: str) -> None:
        self._coll().delete_one({"_id": key})
