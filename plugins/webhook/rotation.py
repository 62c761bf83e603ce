"""Signing-secret rotation: a replaced secret keeps signing, next to the new one, for a grace period.

Receivers verify a delivery when any of the space-separated ``v1,`` signatures matches (Standard Webhooks),
so they can switch to the new secret at any time within the grace period without rejecting a delivery.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

DEFAULT_GRACE_HOURS = 24.0


def on_save(config: dict[str, Any], previous: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    """``config`` with the rotation state Formhooks keeps (what a user sends for it is ignored).

    A new ``secret`` over an old one keeps the old one until ``now`` + the grace period; an unchanged one
    carries the rotation in progress on. A new URL, no secret, or a grace of 0 ends any rotation at once.
    """
    previous = previous or {}
    kept: tuple[str | None, str | None] = (None, None)
    grace = float(config.get("secret_grace_hours", DEFAULT_GRACE_HOURS))
    if config.get("secret") and grace > 0 and config.get("url") == previous.get("url"):
        if previous.get("secret") and previous["secret"] != config["secret"]:
            kept = (previous["secret"], (now + timedelta(hours=grace)).isoformat(timespec="seconds"))
        elif previous.get("secret") == config["secret"]:
            kept = (previous.get("previous_secret"), previous.get("previous_secret_expires_at"))
    config = {**config, "previous_secret": kept[0], "previous_secret_expires_at": kept[1]}
    return {k: v for k, v in config.items() if v is not None}


def signing_secrets(config: dict[str, Any], now: datetime) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the replaced one during its grace."""
    secrets = [config["secret"]] if config.get("secret") else []
    until = config.get("previous_secret_expires_at")
    if secrets and config.get("previous_secret") and until and datetime.fromisoformat(until) > now:
        secrets.append(config["previous_secret"])
    return secrets


def utcnow() -> datetime:
    return datetime.now(UTC)
