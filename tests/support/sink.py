"""An HTTP sink on loopback: the test kit's fake (records every request, answers from a script)."""

from __future__ import annotations

from collections.abc import Callable

from app.contract.testing import FakeHTTP, Reply, Request

Received = Request

__all__ = ["Received", "Reply", "Sink"]


class Sink(FakeHTTP):
    """``responder(request) -> Reply`` decides each answer; default 200."""

    @property
    def responder(self) -> Callable[[Request], Reply]:
        return self.handle

    @responder.setter
    def responder(self, value: Callable[[Request], Reply]) -> None:
        self.handle = value
