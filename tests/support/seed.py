"""Write a test's data straight into the store, however long a loaded machine takes to store it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pymongo
from pymongo.collection import Collection

SEED_TIMEOUT = 120.0  # seconds; thousands of documents are setup, not what a test measures


def insert_many(collection: Collection, docs: Sequence[dict[str, Any]]) -> None:
    """``collection.insert_many(docs)`` under a deadline of its own instead of the app's socket timeout
    (``DB_TIMEOUT_MS``, 3 s), which a large seed can outlast when other tests share the CPUs."""
    with pymongo.timeout(SEED_TIMEOUT):
        collection.insert_many(docs)
