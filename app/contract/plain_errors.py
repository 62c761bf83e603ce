"""Low-level network failures in words a person understands: the one mapping behind every plugin's
Test connection (``app.engine.plugin_calls`` applies it to each failed test, keeping the original text
in ``details["technical"]``).

``explain`` reads an exception (its whole cause chain) or a message such as
``"Could not connect to http://127.0.0.1:9/hook: [Errno 111] Connection refused"`` and answers
``Plain("Nothing is listening at 127.0.0.1:9 (connection refused).", "refused")``, or None when the text
is not a network failure it knows (it is then shown as the plugin wrote it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443, "smtp": 25, "smtps": 465}


@dataclass(frozen=True)
class Plain:
    """A failure in plain words, and its kind (refused, dns, timeout, tls_certificate, tls, reset,
    unreachable)."""

    message: str
    kind: str


# (kind, what the technical text says, what a person reads). Checked in this order: a TLS failure that
# mentions a timeout is a TLS failure; "[Errno 111]" wins over the "Max retries exceeded" around it.
RULES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE), words)
    for kind, pattern, words in (
        (
            "dns",
            r"name or service not known|nodename nor servname|temporary failure in name resolution|"
            r"no address associated with hostname|getaddrinfo failed|name does not resolve|"
            r"cannot resolve host|failed to resolve|NameResolutionError|gaierror",
            "The address {host} could not be found (DNS). Check the spelling of the address.",
        ),
        (
            "refused",
            r"connection refused|errno 111\b|econnrefused|ConnectionRefusedError|actively refused",
            "Nothing is listening at {where} (connection refused). Check the address and the port, and "
            "that the service is running.",
        ),
        (
            "tls_certificate",
            r"certificate verify failed|SSLCertVerificationError|self[- ]signed certificate|"
            r"certificate has expired|hostname mismatch|unable to get local issuer certificate",
            "The server at {where} presented a certificate that is not trusted (TLS): it may be self-signed, expired, "
            "or made for another name.",
        ),
        (
            "tls",
            r"wrong version number|ssl|tls|handshake",
            "The secure connection (TLS) to {where} failed. Check that the address and the port expect "
            "TLS (https, or the mail server's security setting).",
        ),
        (
            "timeout",
            r"timed out|timeout|no answer from .* within|did not answer in time|sent no greeting",
            "The server at {where} did not answer in time (timeout). It may be down, slow, or behind a firewall.",
        ),
        (
            "reset",
            r"connection reset|errno 104\b|econnreset|connection aborted|remotedisconnected|"
            r"closed the connection|connection closed",
            "The server at {where} closed the connection without answering.",
        ),
        (
            "unreachable",
            r"network is unreachable|no route to host|errno 101\b|errno 113\b|host is down",
            "There is no network route to {where}.",
        ),
    )
)
URL = re.compile(r"\b([a-z][a-z0-9+.-]*)://(\[[0-9a-f:.]+\]|[^/\s:'\"\]\[)(]+)(?::(\d{1,5}))?", re.IGNORECASE)
POOL = re.compile(r"host='([^']+)',\s*port=(\d+)")
NAMED = re.compile(r"(?:host|resolve)\s+['\"]([^'\"]+)['\"]", re.IGNORECASE)
HOST_PORT = re.compile(
    r"(?<![\w.:/-])((?:\d{1,3}\.){3}\d{1,3}|\[[0-9a-f:]+\]|[a-z0-9-]+(?:\.[a-z0-9-]+)+):(\d{1,5})\b",
    re.IGNORECASE,
)
AT_HOST = re.compile(
    r"\b(?:at|to|from)\s+((?:\d{1,3}\.){3}\d{1,3}|[a-z0-9-]+(?:\.[a-z0-9-]+)+)\b", re.IGNORECASE
)
ANSWERED = re.compile(r"\bHTTP \d{3}\b")  # the destination answered: its status says more than any rule


def technical_text(error: BaseException | str) -> str:
    """An exception as the text of its whole chain (types and messages), or the text as it is."""
    if isinstance(error, str):
        return error
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return " <- ".join(parts)


def where_of(text: str) -> tuple[str | None, str | None]:
    """``(host, "host:port")`` named in a technical text, as far as it tells (port alone is never shown)."""
    if m := POOL.search(text):
        return m.group(1), f"{m.group(1)}:{m.group(2)}"
    if m := URL.search(text):
        scheme, host, port = m.group(1).lower(), m.group(2), m.group(3)
        port = port or (str(DEFAULT_PORTS[scheme]) if scheme in DEFAULT_PORTS else None)
        return host, f"{host}:{port}" if port else host
    if m := HOST_PORT.search(text):
        return m.group(1), f"{m.group(1)}:{m.group(2)}"
    if m := NAMED.search(text) or AT_HOST.search(text):
        return m.group(1), m.group(1)
    return None, None


def where_in_config(config: Mapping[str, Any]) -> str | None:
    """Where a config connects, for texts that do not say: its ``host`` (and ``port``), else the host and
    port of its first http(s) URL (never the URL's path, which may hold a secret)."""
    if isinstance(config.get("host"), str) and config["host"]:
        return f"{config['host']}:{config['port']}" if config.get("port") else config["host"]
    for value in config.values():
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            _, where = where_of(f"{urlsplit(value).scheme}://{urlsplit(value).netloc.rpartition('@')[2]}")
            if where:
                return where
    return None


def explain(error: BaseException | str, where: str | None = None) -> Plain | None:
    """``error`` in plain words, or None when it is not a network failure this knows. ``where`` is the
    fallback ``host[:port]`` when the error does not name one."""
    text = technical_text(error)
    if ANSWERED.search(text):
        return None
    for kind, pattern, words in RULES:
        if pattern.search(text):
            host, named = where_of(text)
            shown = named or where or "the destination"
            host = host or (shown.rsplit(":", 1)[0] if ":" in shown and not shown.endswith("]") else shown)
            return Plain(words.format(where=shown, host=host), kind)
    return None
