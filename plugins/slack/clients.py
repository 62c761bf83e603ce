"""slack-sdk clients behind the destination check, with the API base from SLACK_API_URL.

slack-sdk opens its own urllib connections (resolving names again, following redirects, honouring proxy
variables); here both clients send through ``guarded_opener`` instead: every connection pinned to the
address that passed the check, and a redirect answered as what it is, never followed.
"""

from __future__ import annotations

import hashlib
import urllib.error
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit
from urllib.request import OpenerDirector, Request

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.webhook import WebhookClient, WebhookResponse

from app.contract import PluginError, check_url, guarded_opener
from plugins.slack.errors import api_error, unreachable

DEFAULT_API_URL = "https://slack.com/api/"


def _allow_private(settings: Mapping[str, Any]) -> bool:
    return bool(settings.get("ALLOW_PRIVATE_DESTINATIONS"))


def _read(resp: Any) -> str:
    return resp.read().decode(resp.headers.get_content_charset() or "utf-8")


class GuardedWebClient(WebClient):
    """The Web API client, sending through a guarded opener (SDK's retries and parsing unchanged)."""

    opener: OpenerDirector

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        resp = self.opener.open(req, timeout=self.timeout)
        return {"status": resp.code, "headers": resp.headers, "body": _read(resp)}


class GuardedWebhookClient(WebhookClient):
    """The incoming-webhook client, sending through a guarded opener."""

    opener: OpenerDirector

    def _perform_http_request_internal(self, url: str, req: Request) -> WebhookResponse:
        resp = self.opener.open(req, timeout=self.timeout)
        return WebhookResponse(url=url, status_code=resp.status, body=_read(resp), headers=resp.headers)


def web_client(token: str, settings: Mapping[str, Any], timeout: float) -> WebClient:
    base = (settings.get("SLACK_API_URL") or DEFAULT_API_URL).rstrip("/") + "/"
    check_url(base, _allow_private(settings))
    client = GuardedWebClient(token=token, base_url=base, timeout=timeout)  # type: ignore[arg-type]
    client.opener = guarded_opener(_allow_private(settings))
    return client


def webhook_client(url: str, settings: Mapping[str, Any], timeout: float) -> WebhookClient:
    check_url(url, _allow_private(settings))
    client = GuardedWebhookClient(url, timeout=timeout)  # type: ignore[arg-type]
    client.opener = guarded_opener(_allow_private(settings))
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
