"""Run nx-27017 with warnings-only logging (it logs every command at INFO, which costs throughput), and
with client-level ``bulkWrite`` made safe and atomic on the database it writes to.

nx-27017 0.8 guards each database's SQLite connection with a lock chosen by the command's ``$db``. A
client-level ``bulkWrite`` is sent to ``admin``, so it took the ``admin`` lock while writing through the
target database's connection, concurrently with that database's own commands: its writes could be rolled
back by theirs after it was acknowledged (tests/test_store_bulk_write.py: about one in seven lost while
counts ran beside it). Here it takes the lock of the one database its namespaces name, and runs in one
SQLite transaction: a crash mid-command leaves none of it (an ordered write's operations before a failed
one are committed with the rest, as MongoDB does). The store says so to a client that asks with the
command ``{ATOMIC_BULK_WRITE: 1}`` (engine.group_commit: a submission and its jobs then need no marker).
"""

import logging
import sys
from typing import Any

from nx_27017 import handler
from nx_27017.nx_27017 import main

from app.store import ATOMIC_BULK_WRITE

_lock_db_of_command = handler._msg_db_name
_bulk_write = handler.NeoSQLiteHandler._handle_bulk_write
_command = handler.NeoSQLiteHandler.handle_command


def _namespaces_db(namespaces: Any) -> str | None:
    """The one database a bulkWrite's ``nsInfo`` names (None: several, or none)."""
    if not isinstance(namespaces, list):
        return None
    databases = {str(entry.get("ns", "")).partition(".")[0] for entry in namespaces if isinstance(entry, dict)}
    return databases.pop() if len(databases) == 1 else None


def _lock_db(msg: Any) -> str:
    """The database whose lock a wire message takes: a bulkWrite's target database, else its ``$db``."""
    name = _lock_db_of_command(msg)
    if name != "admin" or not isinstance(msg, dict):
        return name
    sections = msg.get("sections") or []
    if not any(kind == "body" and isinstance(doc, dict) and "bulkWrite" in doc for kind, doc in sections):
        return name
    namespaces: list[Any] = []
    for _, doc in sections:
        if isinstance(doc, dict) and isinstance(doc.get("nsInfo"), list):
            namespaces += doc["nsInfo"]
    return _namespaces_db(namespaces) or name


def _atomic_bulk_write(self: Any, request_id: int, cmd: dict, command_doc: dict) -> Any:
    """The original bulkWrite, in one SQLite transaction when it writes to one database outside a
    client's own transaction."""
    name = _namespaces_db(cmd.get("nsInfo"))
    if name is None or "txnNumber" in command_doc and command_doc.get("autocommit") is False:
        return _bulk_write(self, request_id, cmd, command_doc)
    conn = self.get_database(name).db
    if conn.in_transaction:
        return _bulk_write(self, request_id, cmd, command_doc)
    conn.execute("BEGIN IMMEDIATE")
    try:
        answer = _bulk_write(self, request_id, cmd, command_doc)
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return answer


def _command_or_capability(self: Any, msg: dict[str, Any]) -> Any:
    for kind, doc in msg.get("sections") or []:
        if kind == "body" and isinstance(doc, dict) and ATOMIC_BULK_WRITE in doc:
            return msg["request_id"], {"ok": 1, "atomic": True}
    return _command(self, msg)


handler._msg_db_name = _lock_db
handler.NeoSQLiteHandler._handle_bulk_write = _atomic_bulk_write
handler.NeoSQLiteHandler.handle_command = _command_or_capability

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s nx-27017: %(message)s")
    sys.exit(main())
