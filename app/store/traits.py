"""What the store a client is connected to can be trusted with: all-or-nothing client-level bulkWrites
(the embedded store Formhooks started, patched by app/store/nx_quiet.py), client-level bulkWrites at all
(MongoDB 8.0+), or neither (an nx-27017 Formhooks did not start: its client-level bulkWrite can roll back
writes it acknowledged, so it is never sent one)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pymongo.errors import OperationFailure

from app.store import ATOMIC_BULK_WRITE, NX_PROCESS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreTraits:
    kind: str  # "embedded" (patched nx-27017), "nx-27017" (unpatched) or "mongodb"
    atomic_bulk_write: bool  # a client-level bulkWrite is stored all or nothing
    client_bulk_write: bool  # a client-level bulkWrite may be sent (it keeps what it acknowledges)


EMBEDDED = StoreTraits("embedded", atomic_bulk_write=True, client_bulk_write=True)
UNPATCHED_NX = StoreTraits("nx-27017", atomic_bulk_write=False, client_bulk_write=False)
MONGODB = StoreTraits("mongodb", atomic_bulk_write=False, client_bulk_write=True)


def store_traits(client: Any) -> StoreTraits:
    """Ask the store (two commands). Raises PyMongoError when it does not answer."""
    try:
        answer = client.admin.command(ATOMIC_BULK_WRITE)
    except OperationFailure:  # MongoDB: no such command
        answer = {}
    if answer.get("atomic") is True:
        return EMBEDDED
    # An unpatched nx-27017 answers any unknown command with ok: 1; its buildInfo names its process.
    try:
        build = client.admin.command("buildInfo")
    except OperationFailure:  # a MongoDB that refuses it to this user: not nx-27017, which never does
        build = {}
    if build.get("process") == NX_PROCESS:
        log.warning(
            "The store is an nx-27017 that Formhooks did not start (or whose patch could not be applied): "
            "its client-level bulkWrite can lose writes it acknowledged, so Formhooks writes a submission "
            "and its jobs in separate inserts, guarded by a marker. Leave MONGODB_URI unset to use the "
            "embedded store, or point it at MongoDB."
        )
        return UNPATCHED_NX
    return MONGODB
