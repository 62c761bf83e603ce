"""The twilio SDK behind the destination check, with the API base from TWILIO_API_URL."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from app.contract import PluginError, shared_session

TWILIO_API = "https://api.twilio.com"
# The SDK logs each request's line, headers and response headers at INFO (a dozen lines a message): warnings only.
SDK_LOG = logging.getLogger(__name__ + ".sdk")
SDK_LOG.setLevel(logging.WARNING)
AUTH_CODES = {20003, 20005}  # authentication failed, account not active
RECIPIENT_CODES = {
    21211: "is not a valid phone number",
    21408: "is in a region this account may not send to (Messaging › Settings › Geo permissions)",
    21610: "has replied STOP: Twilio will not send to it until it replies START",
    21612: "cannot be reached from this sender",
    21614: "is not a mobile number",
}
SENDER_CODES = {21606, 21659, 21660, 21212}


class GuardedTwilioHttpClient(TwilioHttpClient):
    """Twilio's HTTP client on a guarded session (no proxies), its API base replaceable for tests."""

    def __init__(self, settings: Mapping[str, Any], timeout: float):
        super().__init__(timeout=timeout)
        self.session = shared_session(bool(settings.get("ALLOW_PRIVATE_DESTINATIONS")))
        self.proxy = None
        self.logger = SDK_LOG
        self.api_base = (settings.get("TWILIO_API_URL") or TWILIO_API).rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any):  # type: ignore[override]
        if url.startswith(TWILIO_API):
            url = self.api_base + url[len(TWILIO_API) :]
        return super().request(method, url, *args, **kwargs)


def twilio_client(config: Mapping[str, Any], settings: Mapping[str, Any], timeout: float) -> Client:
    """A client for the configured account; nothing is read from the environment."""
    http = GuardedTwilioHttpClient(settings, timeout)
    return Client(config["account_sid"], config["auth_token"], http_client=http, environment={})


@contextmanager
def twilio_errors(to: str | None = None) -> Iterator[None]:
    """Turn twilio and network exceptions into PluginErrors that say what to fix."""
    try:
        yield
    except PluginError:
        raise
    except TwilioRestException as exc:
        raise rest_error(exc, to) from None
    except requests.Timeout:
        raise PluginError("Twilio did not answer in time; will retry.") from None
    except (requests.RequestException, TwilioException, OSError) as exc:
        raise PluginError(f"Could not reach Twilio: {exc}.") from None


def rest_error(exc: TwilioRestException, to: str | None) -> PluginError:
    summary = {"status_code": exc.status, "twilio_code": exc.code, "body_excerpt": str(exc.msg)[:300]}
    detail = f"{exc.msg} (Twilio error {exc.code})" if exc.code else str(exc.msg)
    if exc.status == 401 or exc.code in AUTH_CODES:
        return PluginError(
            f"Twilio rejected the credentials: {detail}. Check the Account SID and paste the current Auth Token.",
            permanent=True,
            response=summary,
        )
    if exc.code in RECIPIENT_CODES:
        return PluginError(
            f"The recipient {to or ''} {RECIPIENT_CODES[exc.code]} ({detail}).",
            permanent=True,
            response=summary,
        )
    if exc.code in SENDER_CODES:
        return PluginError(
            f"The sender cannot send this message: {detail}. Use a number (or Messaging Service) of this account "
            "that can send SMS.",
            permanent=True,
            response=summary,
        )
    if exc.status in (408, 429) or exc.status >= 500 or exc.code == 20429:
        return PluginError(f"Twilio answered {exc.status}: {detail}; will retry.", response=summary)
    return PluginError(f"Twilio refused the message: {detail}.", permanent=True, response=summary)
