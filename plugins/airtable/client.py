"""pyairtable behind the destination check, with the API base from AIRTABLE_API_URL, and its errors."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import requests
from pyairtable import Api, Table

from app.contract import PluginError, guarded_session, retry_after_seconds

AIRTABLE_API = "https://api.airtable.com"
RATE_LIMIT_PAUSE = 30.0  # Airtable: after a 429, wait 30 seconds before the next request


def airtable_table(config: Mapping[str, Any], settings: Mapping[str, Any], timeout: float) -> Table:
    """The configured table. Each client has its own session: pyairtable keeps the token on it."""
    api = Api(
        config["token"],
        timeout=(min(5.0, timeout), timeout),
        retry_strategy=False,  # the host retries, with backoff and Retry-After
        endpoint_url=(settings.get("AIRTABLE_API_URL") or AIRTABLE_API).rstrip("/"),
    )
    api.session = guarded_session(bool(settings.get("ALLOW_PRIVATE_DESTINATIONS")))
    api.api_key = config["token"]  # sets the Authorization header on the new session
    return api.table(config["base_id"], config["table"])


@contextmanager
def airtable_errors(config: Mapping[str, Any]) -> Iterator[None]:
    """Turn pyairtable and network exceptions into PluginErrors that say what to fix."""
    try:
        yield
    except PluginError:
        raise
    except requests.HTTPError as exc:
        raise http_error(exc.response, config) from None
    except requests.Timeout:
        raise PluginError("Airtable did not answer in time; will retry.") from None
    except requests.RequestException as exc:
        raise PluginError(f"Could not reach Airtable: {exc}.") from None


def http_error(resp: requests.Response, config: Mapping[str, Any]) -> PluginError:
    code = resp.status_code
    try:
        error = resp.json().get("error")
    except ValueError:
        error = None
    kind = error.get("type") if isinstance(error, dict) else error
    message = error.get("message") if isinstance(error, dict) else None
    detail = f"{kind}: {message}" if message else (kind or f"HTTP {code}")
    summary = {"status_code": code, "error": kind, "body_excerpt": resp.text[:300]}
    where = f"table {config['table']!r} of base {config['base_id']}"
    if code == 401:
        return PluginError(
            f"Airtable rejected the token ({detail}). Create a personal access token and paste it.",
            permanent=True,
            response=summary,
        )
    if code == 403 or code == 404:
        return PluginError(
            f"Airtable cannot find {where}, or the token may not use it ({detail}). Check the base ID and "
            "table, and give the token data.records:write on this base.",
            permanent=True,
            response=summary,
        )
    if code == 422:
        return PluginError(
            f"Airtable refused the record ({detail}). Check the column names and types.",
            permanent=True,
            response=summary,
        )
    if code == 429:
        wait = retry_after_seconds(resp.headers.get("Retry-After")) or RATE_LIMIT_PAUSE
        return PluginError(
            f"Airtable is rate limiting this base; will retry in {wait:g} s.",
            retry_after=wait,
            response=summary,
        )
    if code >= 500 or code == 408:
        return PluginError(f"Airtable answered {code} ({detail}); will retry.", response=summary)
    return PluginError(
        f"Airtable refused the request: HTTP {code} ({detail}).", permanent=True, response=summary
    )
