"""The embedded store (nx-27017 as a child process) and what it tells clients about itself."""

# The command the embedded store answers with ``{"ok": 1, "atomic": True}``: its client-level bulkWrites
# are all or nothing (app/store/nx_quiet.py). MongoDB answers it with "no such command", an nx-27017
# without the patch with ``{"ok": 1, "result": []}`` (it answers every unknown command so).
ATOMIC_BULK_WRITE = "formhooksAtomicBulkWrite"
# What nx-27017 puts in ``process`` of its buildInfo (MongoDB has no such field there).
NX_PROCESS = "nx_27017"
# The server error code of a write refused for a duplicate key (MongoDB and nx-27017 alike).
DUPLICATE_KEY = 11000
