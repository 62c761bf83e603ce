"""Outbound connections: refuse loopback, private and link-local destinations on the resolved address.

Every plugin connects through here. ``guarded_session`` pins each connection to an address that passed
the check (no DNS-rebinding window); ``check_destination`` is for clients that open their own sockets.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from app.contract.base import PluginError


def _forbidden(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def resolve_allowed(host: str, port: int, allow_private: bool) -> list[tuple]:
    """getaddrinfo results for ``host`` that may be connected to; PluginError (permanent) if none."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise PluginError(f"Cannot resolve host {host!r}: {exc.strerror}") from None
    if allow_private:
        return infos
    allowed = [info for info in infos if not _forbidden(ipaddress.ip_address(info[4][0].split("%")[0]))]
    if not allowed:
        raise PluginError(
            f"Destination {host!r} resolves to a private or loopback address, which is not allowed "
            "(set ALLOW_PRIVATE_DESTINATIONS=true to permit it).",
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


_local = threading.local()


def shared_session(allow_private: bool) -> requests.Session:
    """A guarded session reused by the calling thread, so connections to a destination are kept alive."""
    sessions = getattr(_local, "sessions", None)
    if sessions is None:
        sessions = _local.sessions = {}
    if allow_private not in sessions:
        sessions[allow_private] = guarded_session(allow_private)
    return sessions[allow_private]
