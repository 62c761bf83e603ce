"""The plugin registry: built-ins from ``plugins/`` plus packages registered under an entry-point group."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any

from flask import Flask

from app.contract.base import FORM_EVENTS, Plugin, settings_view
from app.contract.icons import svg_problem
from app.contract.schema import json_schema, secret_fields
from app.services import services

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "formhooks.plugins"

# id -> "module:Class". Built-ins are plugins like any other; they just ship in this repository.
BUILTINS: dict[str, str] = {
    "webhook": "plugins.webhook:WebhookPlugin",
    "email": "plugins.email:EmailPlugin",
    "slack": "plugins.slack:SlackPlugin",
    "google_sheets": "plugins.google_sheets:GoogleSheetsPlugin",
    "teams": "plugins.teams:TeamsPlugin",
    "discord": "plugins.discord:DiscordPlugin",
    "twilio_sms": "plugins.twilio_sms:TwilioSmsPlugin",
    "airtable": "plugins.airtable:AirtablePlugin",
    "hubspot": "plugins.hubspot:HubSpotPlugin",
}


class PluginRegistryError(RuntimeError):
    """A plugin could not be registered (duplicate id, bad declaration)."""


def _load_ref(ref: str) -> type[Plugin]:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


class PluginRegistry:
    """Knows every available plugin class by id and builds configured instances of them."""

    def __init__(self, settings: Mapping[str, Any] | None = None):
        self.settings = settings or {}
        self._classes: dict[str, type[Plugin]] = {}
        self._origins: dict[str, str] = {}
        self._instances: dict[str, Plugin] = {}
        self.icons: dict[str, str] = {}  # icon name -> id of the plugin whose shipped SVG it is

    def register(self, cls: type[Plugin], origin: str) -> None:
        for attr in ("id", "name", "config_schema"):
            if not getattr(cls, attr, None):
                raise PluginRegistryError(
                    f"Plugin {cls.__qualname__} from {origin} does not declare `{attr}`."
                )
        if cls.id in self._classes:
            raise PluginRegistryError(
                f"Plugin id {cls.id!r} is declared twice: by {self._origins[cls.id]} and by {origin}. "
                "Uninstall one of them or give it another id."
            )
        unknown = set(cls.triggers) - set(FORM_EVENTS)
        if unknown:
            raise PluginRegistryError(f"Plugin {cls.id!r} declares unknown triggers: {sorted(unknown)}")
        self._classes[cls.id] = cls
        self._origins[cls.id] = origin
        self._add_icon(cls, origin)

    def _add_icon(self, cls: type[Plugin], origin: str) -> None:
        if not cls.icon_svg:
            return
        problem = svg_problem(cls.icon_svg)
        if problem:
            log.warning("The icon of plugin %r from %s is not used: %s.", cls.id, origin, problem)
            return
        self.icons.setdefault(cls.icon, cls.id)

    def icon_svg(self, plugin_id: str) -> str | None:
        """The SVG a plugin ships, when it passed the checks and its icon name is served from it."""
        cls = self._classes.get(plugin_id)
        return cls.icon_svg if cls is not None and self.icons.get(cls.icon) == plugin_id else None

    def load(self, builtins: Mapping[str, str] = BUILTINS, discover: bool = True) -> PluginRegistry:
        for ref in builtins.values():
            self.register(_load_ref(ref), f"built-in {ref}")
        if discover:
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                self.register(ep.load(), f"package {ep.dist.name if ep.dist else '?'} ({ep.value})")
        return self

    def ids(self) -> list[str]:
        return sorted(self._classes)

    def get(self, plugin_id: str) -> Plugin | None:
        """The shared instance of a plugin (plugins hold no per-job state)."""
        if plugin_id not in self._classes:
            return None
        if plugin_id not in self._instances:
            self._instances[plugin_id] = self._classes[plugin_id](self.settings_for(plugin_id))
        return self._instances[plugin_id]

    def settings_for(self, plugin_id: str) -> Mapping[str, Any]:
        """The narrow settings view of a plugin (see ``Plugin.settings_keys``)."""
        return settings_view(self._classes[plugin_id], self.settings)

    def plugin_class(self, plugin_id: str) -> type[Plugin] | None:
        return self._classes.get(plugin_id)

    def is_third_party(self, plugin_id: str) -> bool:
        """Installed from a package's entry point (as opposed to a built-in or one registered in code)."""
        return self._origins.get(plugin_id, "").startswith("package ")

    def is_builtin(self, plugin_id: str) -> bool:
        """One of ``BUILTINS``, shipped in this repository (whose network waits honour their deadline)."""
        return self._origins.get(plugin_id, "").startswith("built-in ")

    def describe(self, plugin_id: str) -> dict[str, Any]:
        cls = self._classes[plugin_id]
        schema = cls.config_schema()
        return {
            "id": cls.id,
            "name": cls.name,
            "version": cls.version,
            "description": cls.description,
            "category": cls.category,
            "icon": cls.icon,
            "triggers": list(cls.triggers),
            "secret_fields": secret_fields(schema),
            "rate_limit": (
                {"calls": cls.rate_limit.calls, "period": cls.rate_limit.period} if cls.rate_limit else None
            ),
            "config_schema": json_schema(cls.config_schema),
            "origin": self._origins[plugin_id],
        }

    def describe_all(self) -> Iterable[dict[str, Any]]:
        return [self.describe(pid) for pid in self.ids()]


def init_app(app: Flask) -> None:
    services(app).plugins = PluginRegistry(app.config).load(
        discover=app.config.get("PLUGIN_DISCOVERY", True)
    )
