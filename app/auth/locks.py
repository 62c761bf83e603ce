"""A short mutual-exclusion lease in the store, for checks that must not race (e.g. "keep one owner").

The store has no multi-document transactions; one insert of a well-known ``_id`` is atomic, so whoever
inserts it holds the lease until they delete it, or until it expires should they die holding it.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Iterator

from pymongo.errors import DuplicateKeyError

from app.db import database
from app.errors import APIError

COLLECTION = "locks"
LEASE = 10.0  # seconds a crashed holder blocks others
WAIT = 3.0  # seconds a caller waits for the lease before answering 409


@contextlib.contextmanager
def held(name: str, lease: float = LEASE, wait: float = WAIT) -> Iterator[None]:
    """Hold the lease ``name`` for the block; 409 when someone else holds it for longer than ``wait``."""
    coll = database()[COLLECTION]
    holder = secrets.token_hex(8)
    deadline = time.monotonic() + wait
    pause = threading.Event()
    while True:
        now = time.time()
        try:
            coll.insert_one({"_id": name, "holder": holder, "until": now + lease})
            break
        except DuplicateKeyError:
            taken = coll.update_one(
                {"_id": name, "until": {"$lt": now}}, {"$set": {"holder": holder, "until": now + lease}}
            )
            if taken.modified_count:
                break
        if time.monotonic() > deadline:
            raise APIError(409, "conflict", "Someone else is changing this right now; try again.")
        pause.wait(0.01)
    try:
        yield
    finally:
        coll.delete_one({"_id": name, "holder": holder})
