"""Keeping secrets out of what is written down: execution logs, job errors, test results, Python logs.

Config secrets are known per attempt; every string recorded about it is scrubbed of them (and of their
URL-encoded forms), and Python log records emitted while ``hiding(...)`` is active are scrubbed too.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import marshmallow

from app.contract.schema import secret_fields

MASK = "[secret]"
MIN_LENGTH = 4  # shorter values would mask ordinary words
_hidden: ContextVar[tuple[str, ...]] = ContextVar("formhooks_hidden_secrets", default=())


def secret_values(schema: marshmallow.Schema, opened: dict[str, Any]) -> list[str]:
    """The clear secret values of an opened config, with their URL-encoded forms, longest first."""
    values: set[str] = set()
    for name in secret_fields(schema):
        value = opened.get(name)
        if isinstance(value, str) and len(value) >= MIN_LENGTH:
            values.update({value, quote(value, safe=""), quote_plus(value), *_request_target(value)})
    return sorted(values, key=len, reverse=True)


def _request_target(value: str) -> set[str]:
    """A secret URL's path and query, as HTTP clients log them apart from the host (urllib3 does)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return set()
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return {target} if len(target) >= MIN_LENGTH else set()


def scrub(value: Any, secrets: Iterable[str]) -> Any:
    """``value`` (str, or dicts/lists of them) with every secret replaced by MASK."""
    secrets = tuple(secrets)
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {scrub(k, secrets): scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(scrub(v, secrets) for v in value)
    return value


def scrub_attempt(error: Any, result: Any, secrets: list[str]) -> None:
    """Scrub a PluginError and an ExecutionResult in place before they are logged or stored."""
    if error is not None:
        error.message = scrub(error.message, secrets)
        error.response = scrub(error.response, secrets)
    if result is not None:
        result.summary = scrub(result.summary, secrets)
        result.request = scrub(result.request, secrets)
        result.response = scrub(result.response, secrets)


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
