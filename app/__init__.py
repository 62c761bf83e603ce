"""Formhooks: run integrations when forms change."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

__version__ = "0.1.0"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The app factory. ``config`` overrides settings from the environment (see app.config.SETTINGS)."""
    # Flask is imported here, not at the top: plugin worker processes import this package (app.contract is
    # in it) and must not load Flask with it.
    from flask import Flask

    from app import (
        admin,
        api,
        auth,
        cli,
        db,
        errors,
        hosted,
        metrics,
        public_address,
        request_hooks,
        secrets_box,
        security_headers,
        services,
        store_health,
        template_budget,
    )
    from app import config as settings
    from app.contract import registry
    from app.engine import (
        dispatch,
        group_commit,
        isolation,
        plugin_calls,
        scheduler,
        subscriptions,
        workflow_triggers,
    )

    app = Flask(__name__)
    settings.load_settings(app, config)
    services.install(app)
    template_budget.configure(template_budget.TemplateBudget.from_settings(app.config))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it logs every poll at INFO
    errors.init_app(app)
    security_headers.init_app(app)
    db.init_app(app)
    store_health.init_app(app)
    secrets_box.init_app(app)
    registry.init_app(app)
    isolation.init_app(app)
    plugin_calls.init_app(app)
    subscriptions.init_app(app)
    request_hooks.init_app(app)
    group_commit.init_app(app)
    dispatch.init_app(app)
    workflow_triggers.init_app(app)
    metrics.init_app(app)
    api.init_app(app)
    auth.init_app(app, api.bp)
    cli.init_app(app)
    admin.init_app(app)
    hosted.init_app(app)
    scheduler.init_app(app)
    public_address.warn_if_unset(app.config)
    return app
