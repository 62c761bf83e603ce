"""Fake service APIs build on the test kit's loopback server; their handlers run one at a time."""

from __future__ import annotations

import threading
from collections.abc import Callable

from app.contract.testing import FakeHTTP, Reply, Request

__all__ = ["FakeServer", "Reply", "Request"]


class FakeServer(FakeHTTP):
    """Serves ``handle(request) -> Reply`` on ``host`` (127.0.0.1), one request at a time (fakes keep state)."""

    def __init__(self, handle: Callable[[Request], Reply], host: str = "127.0.0.1", port: int = 0):
        self.lock = threading.Lock()

        def serialised(req: Request) -> Reply:
            with self.lock:
                return handle(req)

        super().__init__(serialised, host, port)
