"""Authentication of the JSON API: a bearer token (ADMIN_TOKEN or a personal token) or a session cookie.

Session-authenticated unsafe requests must carry the CSRF token (``X-CSRFToken``). Views marked
``@public`` need neither. What a caller may do inside a workspace is checked by each view with
``app.auth.require_role`` (404 outside the caller's workspaces, 403 for a role too low).
"""

from __future__ import annotations

from flask import current_app, request

from app.auth import require_principal
from app.auth.csrf import protect_api_request


def require_token() -> None:
    """Every API view needs a caller unless marked public."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or getattr(view, "_public", False) or request.method == "OPTIONS":
        return
    principal = require_principal()
    if principal.via == "session":
        protect_api_request()
