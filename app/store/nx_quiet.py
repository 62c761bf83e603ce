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

The patch replaces internals of the versions in ``TESTED`` (pinned in pyproject.toml). Before patching it
checks the installed versions and the names, signatures and call sites it relies on; where anything
differs it patches nothing and says so in the store's log: the store then does not claim atomic writes,
and the app, recognising an unpatched nx-27017 (app/store/traits.py), sends it no client-level bulkWrite.
"""

import inspect
import logging
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from nx_27017 import handler
from nx_27017.nx_27017 import main

from app.store import ATOMIC_BULK_WRITE

log = logging.getLogger("nx-27017")

# The versions the patch was written and tested for (pyproject.toml pins the same).
TESTED = {"nx-27017": "0.8.1", "neosqlite": "1.17.2"}
# What is replaced or called, with the parameters it is called with.
SIGNATURES = {
    "_msg_db_name": ["msg"],
    "NeoSQLiteHandler._handle_bulk_write": ["self", "request_id", "cmd", "command_doc"],
    "NeoSQLiteHandler.handle_command": ["self", "msg"],
    "NeoSQLiteHandler.get_database": ["self", "db_name"],
}

_originals: dict[str, Any] = {}


def _internal(path: str) -> Any:
    found: Any = handler
    for name in path.split("."):
        found = getattr(found, name, None)
    return found


def mismatches() -> list[str]:
    """How the installed nx-27017 differs from what the patch was written for (empty: it can be applied)."""
    found = []
    for package, tested in TESTED.items():
        try:
            installed = version(package)
        except PackageNotFoundError:
            installed = "none"
        if installed != tested:
            found.append(f"{package} {installed} is installed, the patch is for {tested}")
    for path, params in SIGNATURES.items():
        target = _internal(path)
        if not callable(target):
            found.append(f"nx_27017.handler.{path} is missing")
        elif list(inspect.signature(target).parameters) != params:
            found.append(
                f"nx_27017.handler.{path} takes {inspect.signature(target)}, not ({', '.join(params)})"
            )
    command = _internal("NeoSQLiteHandler.handle_command")
    # The lock is chosen by the decorator's wrapper through the module's _msg_db_name, and handle_command
    # hands a bulkWrite to _handle_bulk_write: replacing them changes nothing unless both still hold.
    if callable(command) and "_msg_db_name" not in getattr(
        getattr(command, "__code__", None), "co_names", ()
    ):
        found.append("handle_command no longer chooses its lock through _msg_db_name")
    inner = getattr(command, "__wrapped__", None)
    if callable(command) and "_handle_bulk_write" not in getattr(
        getattr(inner, "__code__", None), "co_names", ()
    ):
        found.append("handle_command no longer hands bulkWrite to _handle_bulk_write")
    return found


def install() -> bool:
    """Apply the patch when the installed nx-27017 is the one it was written for; else log why not."""
    if _originals:
        return True
    differences = mismatches()
    if differences:
        log.warning(
            "bulkWrite is NOT made atomic and safe, and the store does not claim it (%s); Formhooks will "
            "keep its markers and send this store no client-level bulkWrite. Install the versions in "
            "pyproject.toml to restore it.",
            "; ".join(differences),
        )
        return False
    _originals.update(
        lock_db=handler._msg_db_name,
        bulk_write=handler.NeoSQLiteHandler._handle_bulk_write,
        command=handler.NeoSQLiteHandler.handle_command,
    )
    handler._msg_db_name = _lock_db
    handler.NeoSQLiteHandler._handle_bulk_write = _atomic_bulk_write
    handler.NeoSQLiteHandler.handle_command = _command_or_capability
    return True


def _namespaces_db(namespaces: Any) -> str | None:
    """The one database a bulkWrite's ``nsInfo`` names (None: several, or none)."""
    if not isinstance(namespaces, list):
        return None
    databases = {
        str(entry.get("ns", "")).partition(".")[0] for entry in namespaces if isinstance(entry, dict)
    }
    return databases.pop() if len(databases) == 1 else None


def _lock_db(msg: Any) -> str:
    """The database whose lock a wire message takes: a bulkWrite's target database, else its ``$db``."""
    name = _originals["lock_db"](msg)
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
        return _originals["bulk_write"](self, request_id, cmd, command_doc)
    conn = self.get_database(name).db
    if conn.in_transaction:
        return _originals["bulk_write"](self, request_id, cmd, command_doc)
    conn.execute("BEGIN IMMEDIATE")
    try:
        answer = _originals["bulk_write"](self, request_id, cmd, command_doc)
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return answer


def _command_or_capability(self: Any, msg: dict[str, Any]) -> Any:
    for kind, doc in msg.get("sections") or []:
        if kind == "body" and isinstance(doc, dict) and ATOMIC_BULK_WRITE in doc:
            return msg["request_id"], {"ok": 1, "atomic": True}
    return _originals["command"](self, msg)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s nx-27017: %(message)s")
    install()
    sys.exit(main())
