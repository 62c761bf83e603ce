"""hubspot-api-client behind the destination check, with the API base from HUBSPOT_API_URL, and its errors."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import urllib3
from hubspot import HubSpot
from hubspot.crm.contacts.exceptions import ApiException as ContactsError
from hubspot.crm.deals.exceptions import ApiException as DealsError
from hubspot.crm.properties.exceptions import ApiException as PropertiesError
from hubspot.discovery.discovery_base import DiscoveryBase
from urllib3.util.retry import Retry

from app.contract import PluginError, retry_after_seconds
from app.contract.net import GuardedAdapter

HUBSPOT_API = "https://api.hubapi.com"
RATE_WINDOW = 10.0  # HubSpot limits private apps per rolling 10 seconds
API_ERRORS = (ContactsError, DealsError, PropertiesError)


def hubspot_client(token: str, settings: Mapping[str, Any]) -> HubSpot:
    """A client whose every connection is pinned through the destination check; it never retries itself."""
    allow_private = bool(settings.get("ALLOW_PRIVATE_DESTINATIONS"))
    guarded_pools = GuardedAdapter(allow_private).poolmanager.pool_classes_by_scheme

    def api_factory(package: Any, api_name: str, config: dict[str, Any]) -> Any:
        api = DiscoveryBase._default_api_factory(package, api_name, config)
        api.api_client.rest_client.pool_manager.pool_classes_by_scheme = guarded_pools
        return api

    host = (settings.get("HUBSPOT_API_URL") or HUBSPOT_API).rstrip("/")
    return HubSpot(access_token=token, host=host, retry=Retry(total=0, redirect=0), api_factory=api_factory)


@contextmanager
def hubspot_errors() -> Iterator[None]:
    """Turn hubspot-api-client and network exceptions into PluginErrors that say what to fix."""
    try:
        yield
    except PluginError:
        raise
    except API_ERRORS as exc:
        raise api_error(exc) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise PluginError(f"Could not reach HubSpot: {exc}.") from None


def api_error(exc: Any) -> PluginError:
    status = exc.status or 0
    try:
        body = json.loads(exc.body or b"{}")
    except ValueError:
        body = {}
    category, message = body.get("category", ""), body.get("message") or exc.reason or f"HTTP {status}"
    summary = {"status_code": status, "category": category, "body_excerpt": str(message)[:300]}
    if status == 0:
        return PluginError(f"Could not reach HubSpot: {exc.reason}.", response=summary)
    if status == 401:
        return PluginError(
            f"HubSpot rejected the access token ({message}). Paste the private app's current token.",
            permanent=True,
            response=summary,
        )
    if status == 403:
        return PluginError(
            f"The private app may not do this ({message}). Give it the crm.objects.contacts.write "
            "(and, for deals, crm.objects.deals.write) scope.",
            permanent=True,
            response=summary,
        )
    if status == 429:
        wait = retry_after_seconds((exc.headers or {}).get("Retry-After")) or RATE_WINDOW
        return PluginError(
            f"HubSpot is rate limiting this app; will retry in {wait:g} s.",
            retry_after=wait,
            response=summary,
        )
    if status >= 500 or status == 408:
        return PluginError(f"HubSpot answered {status} ({message}); will retry.", response=summary)
    return PluginError(f"HubSpot refused the change: {message}", permanent=True, response=summary)
