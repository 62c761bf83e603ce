"""The admin UI: server-rendered pages under /admin. Pages read the models; every write goes through the
JSON API (static/admin.js calls it with the session cookie and the CSRF header)."""

from __future__ import annotations

from flask import Blueprint, Flask, redirect, url_for

bp = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


def init_app(app: Flask) -> None:
    from app.admin import filters
    from app.admin.pages import (  # noqa: F401
        account,
        alerts,
        dashboard,
        executions,
        form_summary,
        forms,
        icons,
        integrations,
        live,
        not_found,
        operations,
        session,
        submissions,
        team,
        workflows,
    )
    from app.admin.read_gate import ReadGate
    from app.services import services

    services(app).read_gate = ReadGate()
    filters.init_app(app)
    not_found.init_app(app)
    app.register_blueprint(bp)
    app.add_url_rule("/", "home", lambda: redirect(url_for("admin.dashboard")))
