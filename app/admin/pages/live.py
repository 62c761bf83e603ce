"""Pages that follow the server: the script's polls (``X-Live: 1``) get an ETag, so polling with
If-None-Match costs a 304 and no download while nothing changed. Ordinary page loads get none: a cached
page would carry a stale CSRF token."""

from __future__ import annotations

import hashlib
import re

from flask import Response, request

from app.admin import bp

# Per-request noise that must not make an unchanged page look changed: the signed CSRF token is
# re-stamped on every request.
NOISE = re.compile(rb'name="csrf[-_]token"[^>]*>')


@bp.after_request
def etag(response: Response) -> Response:
    if (
        not request.headers.get("X-Live")
        or request.method != "GET"
        or response.status_code != 200
        or response.is_streamed
        or response.mimetype != "text/html"
    ):
        return response
    digest = hashlib.blake2b(NOISE.sub(b"", response.get_data()), digest_size=16).hexdigest()
    response.set_etag(digest, weak=True)
    response.headers["Cache-Control"] = "no-cache, private"
    return response.make_conditional(request)
