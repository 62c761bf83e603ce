"""Icons that plugins ship (built-in icons are static files)."""

from __future__ import annotations

from flask import Response, abort

from app.admin import bp
from app.contract.registry import registry


@bp.get("/plugin-icons/<plugin_id>.svg")
def plugin_icon(plugin_id: str) -> Response:
    svg = registry().icon_svg(plugin_id)
    if svg is None:
        abort(404)
    resp = Response(svg, mimetype="image/svg+xml")
    # Shown in <img> only; opened directly, nothing in it may run.
    resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp
