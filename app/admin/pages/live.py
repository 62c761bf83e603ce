"""Pages that follow the server: every admin GET page (and fragment) carries an ETag, so the script's
polling with If-None-Match costs a 304 and no download while nothing changed."""

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
        request.method != "GET"
        or response.status_code != 200
        or response.is_streamed
        or response.mimetype != "text/html"
    ):
        return response
    digest = hashlib.blake2b(NOISE.sub(b"", response.get_data()), digest_size=16).hexdigest()
    response.set_etag(digest, weak=True)
    response.headers["Cache-Control"] = "no-cache, private"
    return response.make_conditional(request)
