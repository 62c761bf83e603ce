"""Run nx-27017 with warnings-only logging (it logs every command at INFO, which costs throughput), and with
client-level ``bulkWrite`` serialised with the other commands on the database it writes to.

nx-27017 0.8 guards each database's SQLite connection with a lock chosen by the command's ``$db``. A
client-level ``bulkWrite`` is sent to ``admin``, so it took the ``admin`` lock while writing through the
target database's connection, concurrently with that database's own commands: its writes could be rolled
back by theirs after it was acknowledged (found by tests/test_store_bulk_write.py: 1-3 submissions in 200
lost). Here it takes the lock of the one database its namespaces name.
"""

import logging
import sys
from typing import Any

from nx_27017 import handler
from nx_27017.nx_27017 import main

_lock_db_of_command = handler._msg_db_name


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
    databases = {
        str(entry.get("ns", "")).partition(".")[0] for entry in namespaces if isinstance(entry, dict)
    }
    return databases.pop() if len(databases) == 1 else name


handler._msg_db_name = _lock_db

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s nx-27017: %(message)s")
    sys.exit(main())
