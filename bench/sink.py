"""A fast HTTP sink on loopback, in its own process (so it never shares a GIL with the app or the bench).

Every request it receives answers 200 at once, except under ``/slow/<seconds>/``: those answer after that
many seconds (a slow destination). It keeps a count, the first and last arrival time, and the
arrival time of each ``webhook-id`` (first arrival only), which the bench reads through a tiny control API:

- ``GET /_stats`` → ``{"count", "unique", "first", "last"}`` (times are epoch seconds, ``time.time()``)
- ``GET /_arrivals`` → ``{"arrivals": {webhook_id: first_arrival_time}}``
- ``POST /_reset`` → forget everything

Run as ``python -m bench.sink``; it prints its port on the first line of stdout.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

CONTROL = "/_"
SLOW = "/slow/"


def _slow_seconds(path: str) -> float:
    """The delay a ``/slow/<seconds>/…`` path asks for (at most 120 s; 0 when it names none)."""
    try:
        return min(120.0, max(0.0, float(path[len(SLOW) :].split("/")[0])))
    except ValueError:
        return 0.0


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.first: float | None = None
        self.last: float | None = None
        self.arrivals: dict[str, float] = {}

    def hit(self, webhook_id: str | None, at: float) -> None:
        with self.lock:
            self.count += 1
            if self.first is None:
                self.first = at
            self.last = at
            if webhook_id and webhook_id not in self.arrivals:
                self.arrivals[webhook_id] = at

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"count": self.count, "unique": len(self.arrivals), "first": self.first, "last": self.last}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that vanished (the bench SIGKILLs the app on purpose) is not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def make_server(port: int = 0) -> ThreadingHTTPServer:
    """A threaded HTTP/1.1 (keep-alive) server that accepts anything and records arrivals."""
    state = _State()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # like real servers: no 40 ms delayed-ACK stalls

        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _handle(self) -> None:
            at = time.time()
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if self.path.startswith(CONTROL):
                self._control()
                return
            state.hit(self.headers.get("webhook-id"), at)
            if self.path.startswith(SLOW):
                time.sleep(_slow_seconds(self.path))  # this request's thread only: the others answer at once
            self._reply(200, b'{"ok":true}')

        def _control(self) -> None:
            if self.path == "/_stats":
                body: Any = state.stats()
            elif self.path == "/_arrivals":
                with state.lock:
                    body = {"arrivals": dict(state.arrivals)}
            elif self.path == "/_reset":
                with state.lock:
                    state.reset()
                body = {"ok": True}
            else:
                self._reply(404, b"{}")
                return
            self._reply(200, json.dumps(body).encode())

        do_POST = do_PUT = do_PATCH = do_GET = _handle

    return _Server(("127.0.0.1", port), Handler)


class SinkProcess:
    """The sink as a child process, with a client for its control API."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.sink"], stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self.proc.kill()
            raise RuntimeError(f"the sink did not start (said {line!r})")
        self.port = int(line)
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._http = requests.Session()

    def slow_url(self, seconds: float) -> str:
        """An address of the sink that answers after ``seconds``."""
        return f"http://127.0.0.1:{self.port}{SLOW}{seconds:g}"

    def _get(self, path: str) -> dict[str, Any]:
        return self._http.get(f"http://127.0.0.1:{self.port}{path}", timeout=10).json()

    def stats(self) -> dict[str, Any]:
        return self._get("/_stats")

    def arrivals(self) -> dict[str, float]:
        return self._get("/_arrivals")["arrivals"]

    def reset(self) -> None:
        self._http.post(f"http://127.0.0.1:{self.port}/_reset", timeout=10)

    def close(self) -> None:
        self._http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> SinkProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main() -> None:
    server = make_server()
    print(server.server_address[1], flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
