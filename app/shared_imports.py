"""What the gunicorn master imports before it forks its workers, so that they share it.

Each worker used to import the app (Flask, pymongo, mongoengine, the plugins' SDKs, ...) on its own: about
50 MiB apiece. Imported once in the master, those pages are shared copy-on-write by every worker. Only
modules are imported here: no app is created, so no store connection, thread or lock exists before the
fork (each worker still runs ``create_app`` itself). The objects are then frozen out of the collector, whose
full collections would otherwise write to each of them in every worker and so copy their pages.

The cost: a SIGHUP starts new workers from the code the master imported. To deploy new code, restart the
server (or set ``WEB_SHARED_IMPORTS=false`` to have each worker import it afresh).
"""

from __future__ import annotations

import gc
import importlib
import os
import pkgutil
from collections.abc import Mapping

from app.config import TRUE

# What create_app and its init_app functions import (tests/test_shared_imports.py checks nothing is missed);
# the libraries come with them.
APP_PACKAGES = ("app.admin", "app.api", "app.auth", "app.engine", "app.models")
APP_MODULES = (
    "app.cli",
    "app.config",
    "app.contract.registry",
    "app.db",
    "app.errors",
    "app.hosted",
    "app.json_input",
    "app.metrics",
    "app.request_hooks",
    "app.samples",
    "app.secrets_box",
    "app.security_headers",
    "app.services",
    "app.store_health",
    "app.template_budget",
    "multiprocessing.forkserver",  # the plugin worker pool's
)


def enabled(env: Mapping[str, str] = os.environ) -> bool:
    """``WEB_SHARED_IMPORTS`` (default true)."""
    return env.get("WEB_SHARED_IMPORTS", "true").strip().lower() in TRUE


def module_names() -> list[str]:
    """Every module to import, packages walked."""
    names = list(APP_MODULES)
    for package in APP_PACKAGES:
        names.append(package)
        path = importlib.import_module(package).__path__
        names += [info.name for info in pkgutil.walk_packages(path, f"{package}.")]
    return names


def share_imports() -> None:
    """Import the app's modules and its plugins (built-in and installed), then freeze them."""
    from app.contract.registry import PluginRegistry

    for name in module_names():
        importlib.import_module(name)
    PluginRegistry().load()
    gc.collect()
    gc.freeze()
