"""The JSON REST API, under /api, bearer-token protected except views marked public."""

from __future__ import annotations

from flask import Blueprint, Flask

from app.api.auth import require_token

bp = Blueprint("api", __name__, url_prefix="/api")
bp.before_request(require_token)


def init_app(app: Flask) -> None:
    from app.json_input import StrictJSONProvider

    app.json = StrictJSONProvider(app)  # bodies the store cannot hold are a 400, not a 500
    # register the views
    from app.api import (  # noqa: F401
        alerts,
        conditions,
        form_summary,
        forms,
        invitations,
        jobs,
        openapi,
        operations,
        plugins,
        removals,
        session_views,
        submissions,
        tokens,
        workflows,
        workspaces,
    )
    from app.api.health import health

    # isort: split
    from app.api import preview  # noqa: F401  (the settings editor's preview)

    app.register_blueprint(bp)
    app.register_blueprint(workflows.hooks)  # the workflows' inbound URLs (no token: a secret URL)
    app.register_blueprint(health)
