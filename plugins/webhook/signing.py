"""Standard Webhooks signatures: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

WHSEC = "whsec_"


def secret_key(secret: str) -> bytes:
    """A ``whsec_<base64>`` secret is the decoded key, per the spec; any other string is used as UTF-8 bytes."""
    if secret.startswith(WHSEC):
        return base64.b64decode(secret[len(WHSEC) :], validate=True)
    return secret.encode()


def is_valid_secret(secret: str) -> bool:
    try:
        return bool(secret_key(secret))
    except (binascii.Error, ValueError):
        return False


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()
