"""The address people reach the app at, for links in messages sent without a request (alerts, digests):
``PUBLIC_URL``; unset, the address the first owner last signed in at (remembered in the store, so every
process and the scheduler see it); else ``http://localhost:<PORT>``, which a start-up warning names.

Only the first owner's sign-ins are remembered: the Host header is the client's to choose, and links that
go to every workspace's owners must not be set by any one account.
"""

from __future__ import annotations

import logging
from typing import Any

from app.db import database

log = logging.getLogger(__name__)
COLLECTION = "instance"  # the instance's own settings (app.auth.bootstrap keeps its state there too)
KEY = "public_url"


def local(settings: Any) -> str:
    return f"http://localhost:{settings.get('PORT', 5000)}"


def public_url(settings: Any) -> str:
    """The base of links in messages, without a trailing slash."""
    if settings.get("PUBLIC_URL"):
        return str(settings["PUBLIC_URL"]).rstrip("/")
    try:
        doc = database()[COLLECTION].find_one({"_id": KEY}, {"url": 1})
    except Exception:  # the store is down: a link to localhost beats no alert
        log.warning("could not read the remembered address; links use %s", local(settings), exc_info=True)
        doc = None
    return str(doc["url"]).rstrip("/") if doc and doc.get("url") else local(settings)


def remember(settings: Any, host_url: str) -> None:
    """Keep ``host_url`` (a request's ``scheme://host/``) as the address links use while PUBLIC_URL is unset."""
    if settings.get("PUBLIC_URL"):
        return
    url = host_url.rstrip("/")
    coll = database()[COLLECTION]
    if (coll.find_one({"_id": KEY}, {"url": 1}) or {}).get("url") != url:  # a write only when it moved
        coll.update_one({"_id": KEY}, {"$set": {"url": url}}, upsert=True)


def warn_if_unset(settings: Any) -> None:
    """Say at start-up where links in alerts will point while PUBLIC_URL is unset."""
    if not settings.get("PUBLIC_URL"):
        log.warning(
            "PUBLIC_URL is unset: links in alerts use the address the first owner last signed in at, "
            "or %s before that; set PUBLIC_URL to the address people reach this app at",
            local(settings),
        )
