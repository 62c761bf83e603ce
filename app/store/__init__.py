"""The embedded store (nx-27017 as a child process) and what it tells clients about itself."""

# The command the embedded store answers with ``{"ok": 1, "atomic": True}``: its client-level bulkWrites
# are all or nothing (app/store/nx_quiet.py). MongoDB answers it with "no such command".
ATOMIC_BULK_WRITE = "formhooksAtomicBulkWrite"
