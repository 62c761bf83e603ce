"""slack-sdk clients behind the destination check, with the API base from SLACK_API_URL."""

from __future__ import annotations

import hashlib
import urllib.error
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.webhook import WebhookClient

from app.contract import PluginError, check_url
from plugins.slack.errors import api_error, unreachable

DEFAULT_API_URL = "https://slack.com/api/"


def _allow_private(settings: Mapping[str, Any]) -> bool:
    return bool(settings.get("ALLOW_PRIVATE_DESTINATIONS"))


def web_client(token: str, settings: Mapping[str, Any], timeout: float) -> WebClient:
    base = (settings.get("SLACK_API_URL") or DEFAULT_API_URL).rstrip("/") + "/"
    check_url(base, _allow_private(settings))
    client = WebClient(token=token, base_url=base, timeout=timeout)  # type: ignore[arg-type]
    client.proxy = None  # never a proxy from the environment: it would bypass the destination check
    return client


def webhook_client(url: str, settings: Mapping[str, Any], timeout: float) -> WebhookClient:
    check_url(url, _allow_private(settings))
    client = WebhookClient(url, timeout=timeout)  # type: ignore[arg-type]
    client.proxy = None
    return client


@contextmanager
def slack_errors(where: str, channel: str | None = None) -> Iterator[None]:
    """Turn slack-sdk and network exceptions into PluginErrors."""
    try:
        yield
    except PluginError:
        raise
    except SlackApiError as exc:
        raise api_error(exc, channel) from None
    except (urllib.error.URLError, OSError, SlackRequestError) as exc:
        raise unreachable(exc, where) from None


def host_of(url: str) -> str:
    return urlsplit(url).netloc or url


def digest(secret: str) -> str:
    """A short, irreversible stand-in for a secret (for rate-limit keys)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]
