"""Keeping secrets out of what is written down: execution logs, job errors, test results, Python logs.

Config secrets are known per attempt; every string recorded about it is scrubbed of them and of their
encoded forms (percent-encoded in either case, JSON- and HTML-escaped, and any base64 or base64url run whose
decoding contains one, such as ``Authorization: Basic <base64 of user:password>``), and Python log records
emitted while ``hiding(...)`` is active are scrubbed too.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import html
import json
import logging
import re
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import marshmallow

from app.contract.schema import secret_fields

MASK = "[secret]"
MIN_LENGTH = 4  # shorter values would mask ordinary words
_hidden: ContextVar[tuple[str, ...]] = ContextVar("formhooks_hidden_secrets", default=())


def encoded_forms(secret: str) -> set[str]:
    """``secret`` as it may appear in recorded text: as is, percent-encoded (upper or lower hex, with or
    without ``/`` kept), form-encoded, JSON-escaped and HTML-escaped. (Base64 is found by decoding.)"""
    percent = {quote(secret, safe=""), quote(secret), quote_plus(secret)}
    lower = {re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), p) for p in percent}
    escaped = {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1], html.escape(secret)}
    return {secret, *percent, *lower, *escaped}


def secret_values(schema: marshmallow.Schema, opened: dict[str, Any]) -> list[str]:
    """The clear secret values of an opened config, with their encoded forms, longest first."""
    values: set[str] = set()
    for name in secret_fields(schema):
        value = opened.get(name)
        if isinstance(value, str) and len(value) >= MIN_LENGTH:
            values.update(encoded_forms(value) | _request_target(value))
    return sorted(values, key=len, reverse=True)


_URLSAFE = str.maketrans("-_", "+/")
_TO_URLSAFE = str.maketrans("+/", "-_")


def _decodings(run: str) -> Iterator[bytes]:
    """``run`` decoded as base64 (``-_`` read as ``+/``, so base64url too) from each of the four alignments:
    quads decode alone, so a secret's encoding that starts anywhere in the run is decoded whole by one."""
    run = run.rstrip("=").translate(_URLSAFE)
    for start in range(min(4, len(run))):
        body = run[start:]
        if len(body) % 4 == 1:  # one character too many to be base64: drop it
            body = body[:-1]
        if body:
            with contextlib.suppress(binascii.Error):
                yield binascii.a2b_base64(body + "=" * (-len(body) % 4))


def _base64_cores(data: bytes) -> set[str]:
    """The base64 characters that encode only ``data``'s bits, for each of the three positions ``data`` can
    start at in a 3-byte group, in both alphabets: any base64 text holding ``data`` contains one of them."""
    cores = set()
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data + bytes(2)).decode()
        first, end = -(-8 * offset // 6), (8 * (offset + len(data))) // 6  # whole 6-bit groups inside data
        core = encoded[first:end]
        cores.update({core, core.translate(_TO_URLSAFE)})
    return cores


_CODECS = ("utf-8", "latin-1")  # requests encodes Basic credentials as latin-1 where it can


def _encodable(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


class _TextScrubber:
    """Scrubs one string of a fixed set of secrets (built once per ``scrub`` call, applied to every string)."""

    def __init__(self, secrets: tuple[str, ...]):
        self.secrets = secrets
        self.wanted = {s.encode(codec) for s in secrets for codec in _CODECS if _encodable(s, codec)}
        # base64 of n bytes takes at least 4n/3 characters: shorter runs cannot hold a secret
        self.min_run = max(6, -(-4 * min(map(len, self.wanted)) // 3))
        self.runs = re.compile(rf"[A-Za-z0-9+/_-]{{{self.min_run},}}={{0,2}}")
        cores = sorted({c for w in self.wanted for c in _base64_cores(w)}, key=len, reverse=True)
        self.cores = re.compile("|".join(map(re.escape, cores)))  # a cheap test before decoding runs

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return self.runs.sub(self._hide, text) if self.cores.search(text) else text

    def _hide(self, match: re.Match[str]) -> str:
        found = any(w in decoded for decoded in _decodings(match.group()) for w in self.wanted)
        return MASK if found else match.group()


def _request_target(value: str) -> set[str]:
    """A secret URL's path and query, as HTTP clients log them apart from the host (urllib3 does)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return set()
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return {target} if len(target) >= MIN_LENGTH else set()


@functools.lru_cache(maxsize=256)
def _scrubber(secrets: tuple[str, ...]) -> _TextScrubber:
    """The scrubber of a set of secrets, built once: every attempt of an integration scrubs the same ones."""
    return _TextScrubber(secrets)


def scrub(value: Any, secrets: Iterable[str]) -> Any:
    """``value`` (str, or dicts/lists of them) with every secret, and every encoded form, replaced by MASK."""
    secrets = tuple(secrets)
    return _scrubbed(value, _scrubber(secrets)) if secrets else value


def _scrubbed(value: Any, text: _TextScrubber) -> Any:
    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict):
        return {_scrubbed(k, text): _scrubbed(v, text) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrubbed(v, text) for v in value)
    return value


def scrub_attempt(error: Any, result: Any, secrets: list[str]) -> None:
    """Scrub a PluginError and an ExecutionResult in place before they are logged or stored."""
    if not secrets:
        return
    text = _scrubber(tuple(secrets))
    if error is not None:
        error.message = _scrubbed(error.message, text)
        error.response = _scrubbed(error.response, text)
    if result is not None:
        result.summary = _scrubbed(result.summary, text)
        result.request = _scrubbed(result.request, text)
        result.response = _scrubbed(result.response, text)
        result.output = _scrubbed(result.output, text)


@contextlib.contextmanager
def hiding(secrets: Iterable[str]) -> Iterator[None]:
    """Python log records emitted in this context (this thread) are scrubbed of ``secrets``."""
    token = _hidden.set(tuple(secrets))
    try:
        yield
    finally:
        _hidden.reset(token)


class ScrubFilter(logging.Filter):
    """A handler filter: removes the secrets of the current ``hiding`` context from messages and tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _hidden.get()
        if secrets:
            record.msg, record.args = scrub(record.getMessage(), secrets), ()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = scrub(record.exc_text, secrets)
        return True


def install_log_filter(logger: logging.Logger | None = None) -> None:
    """Add the ScrubFilter to every handler of ``logger`` (default: the root logger), once."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, ScrubFilter) for f in handler.filters):
            handler.addFilter(ScrubFilter())
