"""The store commands this thread sends, as a pymongo CommandListener sees them (``commands_sent``).

The listener is registered on import: clients made from then on report to it (every test's app makes its
own); it keeps only what the watching thread sends while it watches."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from pymongo import monitoring


class _ThisThread(monitoring.CommandListener):
    def __init__(self) -> None:
        self.on: threading.Thread | None = None
        self.seen: list[tuple[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.on is threading.current_thread():
            self.seen.append((event.command_name, event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


_LISTENER = _ThisThread()
monitoring.register(_LISTENER)


@contextlib.contextmanager
def commands_sent() -> Iterator[list[tuple[str, Any]]]:
    """Within the block, a list that fills with each (command name, command document) this thread sends."""
    seen: list[tuple[str, Any]] = []
    _LISTENER.seen, _LISTENER.on = seen, threading.current_thread()
    try:
        yield seen
    finally:
        _LISTENER.on = None
