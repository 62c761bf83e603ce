"""gspread behind the destination check: guarded sessions, the API base from GOOGLE_SHEETS_API_URL.

The token request goes to the key file's ``token_uri`` (google-auth honours it), through a guarded
session too. Credentials are cached per key, so a token is fetched once an hour, not once per job.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import gspread
from google.auth.transport.requests import AuthorizedSession, Request
from google.oauth2 import service_account
from gspread.http_client import HTTPClient

from app.contract import guarded_session
from app.contract.net import GuardedAdapter

GOOGLE_API_BASE = "https://sheets.googleapis.com/v4/"
SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]
CACHED_KEYS = 32

_credentials: OrderedDict[str, service_account.Credentials] = OrderedDict()
_lock = threading.Lock()


class SheetsHTTPClient(HTTPClient):
    """gspread's HTTP client with Google's API base replaced (emulators, tests)."""

    api_base = GOOGLE_API_BASE

    def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any):  # type: ignore[override]
        if endpoint.startswith(GOOGLE_API_BASE):
            endpoint = self.api_base + endpoint[len(GOOGLE_API_BASE) :]
        return super().request(method, endpoint, *args, **kwargs)


def credentials(info: dict[str, Any]) -> service_account.Credentials:
    """The (cached) credentials of a service-account key."""
    digest = hashlib.sha256(repr(sorted(info.items())).encode()).hexdigest()
    with _lock:
        if digest in _credentials:
            _credentials.move_to_end(digest)
            return _credentials[digest]
    creds = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    with _lock:
        _credentials[digest] = creds
        while len(_credentials) > CACHED_KEYS:
            _credentials.popitem(last=False)
    return creds


def sheets_client(info: dict[str, Any], settings: Mapping[str, Any], timeout: float) -> gspread.Client:
    """A gspread client whose every connection (token and API) passes the destination check."""
    allow_private = bool(settings.get("ALLOW_PRIVATE_DESTINATIONS"))
    session = AuthorizedSession(credentials(info), auth_request=Request(guarded_session(allow_private)))
    session.trust_env = False  # no proxies from the environment: they would bypass the address check
    adapter = GuardedAdapter(allow_private, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    client = gspread.Client(None, session=session, http_client=SheetsHTTPClient)  # type: ignore[arg-type]
    client.http_client.api_base = (settings.get("GOOGLE_SHEETS_API_URL") or GOOGLE_API_BASE).rstrip("/") + "/"
    client.set_timeout(timeout)
    return client
