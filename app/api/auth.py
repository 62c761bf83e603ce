"""Bearer-token authentication for the API."""

from __future__ import annotations

import hmac

from flask import current_app, request

from app.errors import APIError


def require_token() -> None:
    """Every API view needs ``Authorization: Bearer <token>`` unless marked public."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or getattr(view, "_public", False) or request.method == "OPTIONS":
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise APIError(401, "unauthorized", "Send Authorization: Bearer <token>.")
    if not hmac.compare_digest(token.strip().encode(), current_app.config["ADMIN_TOKEN"].encode()):
        raise APIError(401, "unauthorized", "The token is not valid.")
