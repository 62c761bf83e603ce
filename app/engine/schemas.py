"""Plugins' config schemas, built once per plugin: the engine needs one for every attempt (which fields
are secrets), and building a marshmallow schema costs more than the rest of the attempt's bookkeeping."""

from __future__ import annotations

import threading

import marshmallow

from app.contract import Plugin

_built: dict[
    int, tuple[Plugin, marshmallow.Schema]
] = {}  # id(plugin) -> (plugin, its schema); plugin kept alive
_lock = threading.Lock()


def config_schema_of(plugin: Plugin) -> marshmallow.Schema:
    """``plugin.config_schema()``, built on first use (treat it as read-only: it is shared)."""
    found = _built.get(id(plugin))
    if found is not None and found[0] is plugin:
        return found[1]
    schema = plugin.config_schema()
    with _lock:
        _built[id(plugin)] = (plugin, schema)
    return schema
