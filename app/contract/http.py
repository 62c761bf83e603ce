"""HTTP helpers shared by plugins that talk HTTP: status classification and log summaries."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import requests

from app.contract.base import PluginError

EXCERPT = 1000
SENSITIVE_HEADER_WORDS = (
    "authorization",
    "cookie",
    "token",
    "secret",
    "key",
    "signature",
    "password",
    "auth",
)
# Well-known headers whose names match a word above but which carry no credential: shown as sent.
PUBLIC_HEADERS = frozenset({"idempotency-key", "x-idempotency-key", "www-authenticate"})


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """``headers`` for a log: credentials (``Authorization``, ``Cookie``, ``*token*``, ``*key*``, ...) become
    ``[redacted]``; well-known headers that only look like them (``Idempotency-Key``) stay readable."""
    return {k: ("[redacted]" if _sensitive(k) else v) for k, v in headers.items()}


def _sensitive(name: str) -> bool:
    lowered = name.strip().lower()
    return lowered not in PUBLIC_HEADERS and any(w in lowered for w in SENSITIVE_HEADER_WORDS)


def response_summary(resp: requests.Response) -> dict[str, Any]:
    return {
        "status_code": resp.status_code,
        "reason": resp.reason,
        "body_excerpt": resp.text[:EXCERPT] if resp.content else "",
        "elapsed_ms": int(resp.elapsed.total_seconds() * 1000),
    }


def raise_for_response(resp: requests.Response) -> None:
    """Only 2xx succeeds. 408, 429 and 5xx are retryable (honouring Retry-After); 410 disables; the rest is permanent."""
    code = resp.status_code
    if 200 <= code < 300:
        return
    summary = response_summary(resp)
    excerpt = summary["body_excerpt"][:200]
    detail = f"HTTP {code} {resp.reason or ''}".strip() + (f": {excerpt}" if excerpt else "")
    if code in (408, 429) or code >= 500:
        raise PluginError(
            detail, retry_after=retry_after_seconds(resp.headers.get("Retry-After")), response=summary
        )
    if code == 410:
        raise PluginError(
            f"{detail} (the destination is gone)",
            disable=True,
            response=summary,
        )
    if 300 <= code < 400:
        raise PluginError(
            f"{detail} (redirects are not followed; use the final URL)", permanent=True, response=summary
        )
    raise PluginError(detail, permanent=True, response=summary)


def send(
    session: requests.Session, method: str, url: str, timeout: float, **kwargs: Any
) -> requests.Response:
    """One request; network errors and timeouts become retryable PluginErrors."""
    try:
        return session.request(method, url, timeout=timeout, allow_redirects=False, **kwargs)
    except requests.Timeout:
        raise PluginError(f"No answer from {url} within {timeout:g} s") from None
    except requests.ConnectionError as exc:
        raise PluginError(f"Could not connect to {url}: {_root_cause(exc)}") from None
    except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL) as exc:  # (as sent again, too)
        raise PluginError(f"Request to {url} cannot be sent: {_root_cause(exc)}", permanent=True) from None
    except requests.RequestException as exc:
        raise PluginError(f"Request to {url} failed: {_root_cause(exc)}") from None


def _root_cause(exc: BaseException) -> str:
    while (inner := exc.__cause__ or exc.__context__) is not None:
        exc = inner
    text = str(exc)
    return text.split(": ", 1)[-1] if "Failed to establish" in text else text or type(exc).__name__
