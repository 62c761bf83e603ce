"""Outbound connections: refuse every destination whose resolved address is not globally routable.

Every plugin connects through here. ``guarded_session`` (requests) and ``guarded_opener`` (urllib) pin each
connection to an address that passed the check (no DNS-rebinding window) and never follow a redirect by
themselves; ``connect_checked`` is for clients that open their own sockets.

Within ``call_deadline`` (a built-in plugin's attempt, run in the worker's own thread: app.engine.plugin_calls)
every connection opened here and every request of a guarded session waits at most until the deadline, so
the attempt ends at about its deadline whatever timeout the plugin or its SDK asked for.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from app.contract.base import PluginError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address it reaches is in the last 32 bits
LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: local use


MIN_WAIT = 0.05  # seconds: a wait bounded by a deadline already past still gets this long (then times out)
_deadline: ContextVar[float | None] = ContextVar("formhooks_call_deadline", default=None)


@contextmanager
def call_deadline(at: float) -> Iterator[None]:
    """Within: network waits end by ``at`` (a ``time.monotonic()`` value), see the module's docstring."""
    token = _deadline.set(at)
    try:
        yield
    finally:
        _deadline.reset(token)


def bounded(timeout: float | None) -> float | None:
    """``timeout`` (seconds; None: none) cut to what is left of the current ``call_deadline``, if any."""
    at = _deadline.get()
    if at is None:
        return timeout
    left = max(MIN_WAIT, at - time.monotonic())
    return left if timeout is None else min(timeout, left)


def is_public_address(ip: IPAddress) -> bool:
    """Globally routable: ``ipaddress``'s view of the IANA special-purpose registries (``is_global``),
    not multicast or reserved, and for IPv6 addresses that carry an IPv4 one (IPv4-mapped, 6to4, NAT64),
    that IPv4 address too. Site-local IPv6 (fec0::/10) is refused although the registries dropped it."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return is_public_address(ip.ipv4_mapped)
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return True
    if ip.is_site_local or ip in LOCAL_NAT64:
        return False
    carried = [ip.sixtofour]
    if ip in NAT64:
        carried.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return all(is_public_address(v4) for v4 in carried if v4 is not None)


def resolve_allowed(host: str, port: int, allow_private: bool) -> list[tuple]:
    """getaddrinfo results for ``host`` that may be connected to; PluginError (permanent) if none."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise PluginError(f"Cannot resolve host {host!r}: {exc.strerror}") from None
    if allow_private:
        return infos
    allowed = [
        info for info in infos if is_public_address(ipaddress.ip_address(str(info[4][0]).split("%")[0]))
    ]
    if not allowed:
        raise PluginError(
            f"Destination {host!r} resolves to a private or loopback address, or another that is not "
            "globally routable, which is not allowed (set ALLOW_PRIVATE_DESTINATIONS=true to permit it).",
            permanent=True,
        )
    return allowed


def check_destination(host: str, port: int, allow_private: bool) -> None:
    """Raise a permanent PluginError if ``host`` may not be connected to."""
    resolve_allowed(host, port, allow_private)


def check_url(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PluginError(f"Not an http(s) URL: {url!r}", permanent=True)
    check_destination(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), allow_private)


def connect_checked(host: str, port: int, timeout: float | None, allow_private: bool) -> socket.socket:
    """A TCP connection to ``host`` on an address that passed the destination check (no DNS-rebinding window).

    For clients that open their own sockets (e.g. smtplib: override its ``_get_socket``).
    """
    last: OSError | None = None
    timeout = bounded(timeout)
    for family, socktype, proto, _, addr in resolve_allowed(host, port, allow_private):
        sock = socket.socket(family, socktype, proto)
        try:
            if timeout is not None:
                sock.settimeout(timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect(addr)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last or OSError(f"could not connect to {host}")


def _pinned_conn(conn: HTTPConnection, allow_private: bool) -> socket.socket:
    timeout = conn.timeout if isinstance(conn.timeout, int | float) else None
    return connect_checked(conn._dns_host, conn.port, timeout, allow_private)


def _connection_classes(allow_private: bool) -> tuple[type, type]:
    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _pinned_conn(self, allow_private)

    class GuardedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _pinned_conn(self, allow_private)

    return GuardedHTTPConnection, GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose sockets only open to allowed addresses."""

    def __init__(self, allow_private: bool, **kwargs):
        self.allow_private = allow_private
        super().__init__(**kwargs)

    def send(self, request, stream=False, timeout=None, **kwargs):
        # (a urllib3 Timeout object is left as it is; requests passes a number or a (connect, read) pair)
        if isinstance(timeout, tuple):
            timeout = tuple(bounded(t) for t in timeout)
        elif timeout is None or isinstance(timeout, int | float):
            timeout = bounded(timeout)
        return super().send(request, stream=stream, timeout=timeout, **kwargs)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        http_conn, https_conn = _connection_classes(self.allow_private)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
            "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
        }


def guarded_session(allow_private: bool) -> requests.Session:
    """A requests Session that refuses disallowed destinations and never follows redirects by itself."""
    session = requests.Session()
    session.trust_env = False  # no proxies from the environment: they would bypass the address check
    adapter = GuardedAdapter(allow_private, pool_connections=32, pool_maxsize=32, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.max_redirects = 0
    return session


def _pinned_class(base: type[http.client.HTTPConnection], allow_private: bool) -> type:
    class Pinned(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            # http.client opens its socket through this attribute (set in __init__, hence not a method)
            self._create_connection = lambda address, timeout=None, *_: connect_checked(
                address[0], address[1], timeout if isinstance(timeout, int | float) else None, allow_private
            )

    return Pinned


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx is answered as it is (an HTTPError with its code), never followed."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def guarded_opener(
    allow_private: bool, context: ssl.SSLContext | None = None
) -> urllib.request.OpenerDirector:
    """A urllib opener (for SDKs built on urllib) with the guarantees of ``guarded_session``: every
    connection pinned to an address that passed the check, redirects not followed, no proxies from the
    environment, and no schemes but http and https."""
    http_conn = _pinned_class(http.client.HTTPConnection, allow_private)
    https_conn = _pinned_class(http.client.HTTPSConnection, allow_private)

    class PinnedHTTP(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(http_conn, req)  # type: ignore[arg-type]  # a connection class

    class PinnedHTTPS(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(https_conn, req, context=self._context)  # type: ignore[arg-type,attr-defined]

    opener = urllib.request.OpenerDirector()
    for handler in (
        PinnedHTTP(),
        PinnedHTTPS(context=context or ssl.create_default_context()),
        _NoRedirects(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.UnknownHandler(),
    ):
        opener.add_handler(handler)
    return opener


_local = threading.local()


def shared_session(allow_private: bool) -> requests.Session:
    """A guarded session reused by the calling thread, so connections to a destination are kept alive."""
    sessions = getattr(_local, "sessions", None)
    if sessions is None:
        sessions = _local.sessions = {}
    if allow_private not in sessions:
        sessions[allow_private] = guarded_session(allow_private)
    return sessions[allow_private]
