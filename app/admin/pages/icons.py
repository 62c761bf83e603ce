"""Plugin icons by plugin id: the SVG the plugin ships, else its built-in icon, else the generic plug."""

from __future__ import annotations

from flask import Response

from app.admin import bp
from app.admin.filters import ICON_DIR
from app.contract.icons import FALLBACK_ICON
from app.services import services


@bp.get("/plugin-icons/<plugin_id>.svg")
def plugin_icon(plugin_id: str) -> Response:
    svg = services().plugins.icon_svg(plugin_id)
    if svg is None:
        plugin = services().plugins.get(plugin_id)
        name = plugin.icon if plugin and (ICON_DIR / f"{plugin.icon}.svg").is_file() else FALLBACK_ICON
        svg = (ICON_DIR / f"{name}.svg").read_text()
    resp = Response(svg, mimetype="image/svg+xml")
    # Shown in <img> only; opened directly, nothing in it may run.
    resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp
