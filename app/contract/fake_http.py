"""A loopback HTTP server for plugin tests: records every request and answers scripted replies.

Part of the test kit (``app.contract.testing``); Formhooks' own sinks and fake service APIs build on it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Request:
    """One request as the fake received it."""

    method: str
    path: str  # percent-decoded, without the query
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    received_at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))

    def params(self) -> dict[str, Any]:
        """Query, form and JSON parameters together."""
        params: dict[str, Any] = dict(self.query)
        kind = self.headers.get("content-type", "")
        if self.body and "json" in kind:
            params.update(self.json())
        elif self.body:
            params.update(self.form())
        return params

    @property
    def writes(self) -> bool:
        """Whether the method may change something at the destination (anything but GET/HEAD/OPTIONS)."""
        return self.method not in READ_ONLY_METHODS


@dataclass
class Reply:
    """An answer: ``body`` as dict/list is sent as JSON, str or bytes as text; ``delay`` seconds before it."""

    status: int = 200
    body: Any = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, dict | list):
            return json.dumps(self.body).encode(), "application/json; charset=utf-8"
        if isinstance(self.body, bytes):
            return self.body, "text/plain; charset=utf-8"
        return str(self.body or "").encode(), "text/plain; charset=utf-8"


class FakeHTTP:
    """Serves on ``host`` (127.0.0.1). Each request gets the next scripted reply, else ``handle(request)``, else 200.

    ``script(*replies)`` queues replies; ``requests`` lists what came in; ``wait_for(n)`` waits for them.
    """

    def __init__(
        self, handle: Callable[[Request], Reply] | None = None, host: str = "127.0.0.1", port: int = 0
    ):
        self.requests: list[Request] = []
        self.handle: Callable[[Request], Reply] = handle or (lambda _req: Reply())
        self.scripted: list[Reply] = []
        self._cond = threading.Condition()
        self.server = _Server((host, port), _handler_for(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order, before falling back to ``handle``."""
        with self._cond:
            self.scripted.extend(replies)

    def answer(self, req: Request) -> Reply:
        with self._cond:
            self.requests.append(req)
            self._cond.notify_all()
            if self.scripted:
                return self.scripted.pop(0)
        return self.handle(req)

    def writes(self) -> list[Request]:
        """The requests that may have changed something (not GET/HEAD/OPTIONS)."""
        return [r for r in self.requests if r.writes]

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Request]:
        """Block until at least ``count`` requests arrived (AssertionError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the fake got {len(self.requests)} requests, expected {count}")
                self._cond.wait(left)
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeHTTP:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients killed mid-request (crash tests) reset their connections; that is expected


def _handler_for(fake: FakeHTTP) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # like real servers: no 40 ms delayed-ACK stalls

        def log_message(self, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if len(body) < length:  # the client died mid-request: nothing was delivered
                self.close_connection = True
                return
            parts = urlsplit(self.path)
            req = Request(
                self.command,
                unquote(parts.path),
                dict(parse_qsl(parts.query)),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            reply = fake.answer(req)
            if reply.delay:
                time.sleep(reply.delay)  # a slow destination, as scripted
            payload, kind = reply.encoded()
            self.send_response(reply.status)
            if not any(k.lower() == "content-type" for k in reply.headers):
                self.send_header("Content-Type", kind)
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    return Handler
