"""A small threaded HTTP server for fake APIs: a handler function gets each request, answers a Reply."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit


@dataclass
class Request:
    method: str
    path: str  # percent-decoded
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    received_at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))

    def params(self) -> dict[str, Any]:
        """Query, form and JSON parameters together (Slack accepts all three)."""
        params: dict[str, Any] = dict(self.query)
        kind = self.headers.get("content-type", "")
        if self.body and "json" in kind:
            params.update(self.json())
        elif self.body:
            params.update(self.form())
        return params


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list → JSON, str → text
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, dict | list):
            return json.dumps(self.body).encode(), "application/json; charset=utf-8"
        return str(self.body or "").encode(), "text/plain; charset=utf-8"


class FakeServer:
    """Serves ``handle(request) -> Reply`` on ``host`` (127.0.0.1); records every request."""

    def __init__(self, handle: Callable[[Request], Reply], host: str = "127.0.0.1", port: int = 0):
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # like real servers: no 40 ms delayed-ACK stalls

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                req = Request(
                    self.command,
                    unquote(parts.path),
                    dict(parse_qsl(parts.query)),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                with server.lock:
                    server.requests.append(req)
                    reply = handle(req)
                body, kind = reply.encoded()
                self.send_response(reply.status)
                self.send_header("Content-Type", kind)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
