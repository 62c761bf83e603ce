"""The app's services: one typed object per app, made in ``create_app`` and reached with ``services(app)``.

Each module's ``init_app`` sets its own attribute here, in ``create_app``'s order (the store's health first,
the scheduler last); Formhooks keeps nothing else in ``app.extensions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

if TYPE_CHECKING:
    from collections.abc import Callable

    from limits.strategies import RateLimiter

    from app.admin.read_gate import ReadGate
    from app.contract.registry import PluginRegistry
    from app.engine.dispatch import MarkerClearer
    from app.engine.group_commit import Into
    from app.engine.isolation import PluginHost
    from app.engine.plugin_calls import PluginCalls
    from app.engine.scheduler import Scheduler
    from app.engine.subscriptions import Subscriptions
    from app.engine.workflow_runs import Runs
    from app.engine.workflow_triggers import FormWorkflows
    from app.errors import APIError
    from app.secrets_box import SecretBox
    from app.store_health import StoreHealth

KEY = "formhooks"


@dataclass
class Inserts:
    """The group insert (engine/group_commit.py) bound to each collection the intake writes before its 202."""

    submissions: Into
    jobs: Into


class Services:
    """What one app's modules share. Required services are set by their module's ``init_app`` (reading one
    before is an AttributeError, not a None to check); optional ones say when they are None."""

    store_health: StoreHealth
    secrets: SecretBox
    plugins: PluginRegistry
    plugin_host: PluginHost
    plugin_calls: PluginCalls
    subscriptions: Subscriptions
    inserts: Inserts
    markers: MarkerClearer
    limiter: RateLimiter
    shared_limiter: RateLimiter | None = None  # logins counted in the store when RATELIMIT_STORAGE_URI is memory://
    scheduler: Scheduler | None = None  # None when SCHEDULER_ENABLED is off (or in the reloader's parent)
    first_owner: tuple[str, str] | None = None  # (user id, workspace id) once bootstrapped
    openapi: dict[str, Any] | None = None  # the spec, built on first request
    workflow_runs: Runs | None = None  # built on first use
    form_workflows: FormWorkflows
    # The hosted pages' answer to a failed browser post to the intake (None: answer JSON); set by
    # app.hosted, so that the API does not import the pages that post to it.
    browser_answer: Callable[[str, APIError], Any] | None = None
    # Blinker holds receivers weakly: the app keeps these alive.
    receivers: list[Callable[..., Any]]
    read_gate: ReadGate  # heavy admin reads' turns, one per workspace (app.admin)

    def __init__(self) -> None:
        self.receivers = []


def install(app: Flask) -> Services:
    """Give ``app`` its (empty) services object; the modules' ``init_app`` fill it."""
    made = app.extensions[KEY] = Services()
    return made


def services(app: Flask | None = None) -> Services:
    """``app``'s services (the current app's by default)."""
    return (app or current_app).extensions[KEY]
