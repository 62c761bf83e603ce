"""Response headers that keep browsers from misusing the app's pages (README "Security").

Every answer: ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin`` (an invitation
link in the address bar is never sent to another site). Admin pages also get a Content-Security-Policy
that allows only the app's own scripts (no inline script or handlers) and may not be framed. The editor's
e-mail preview is an ``<iframe sandbox="" srcdoc>``: it needs no source here, and it inherits this policy
(no script, no remote image), on top of the sandbox.
"""

from __future__ import annotations

from flask import Flask, Response, request

ADMIN_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
ADMIN_PREFIX = "/admin"


def add_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.path == ADMIN_PREFIX or request.path.startswith(ADMIN_PREFIX + "/"):
        response.headers.setdefault("Content-Security-Policy", ADMIN_CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_headers)
