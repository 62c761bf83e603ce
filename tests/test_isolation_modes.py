"""PLUGIN_ISOLATION decides where each plugin runs; a plugin may ask for a process, a package cannot opt out."""

from __future__ import annotations

import pytest

from app.contract import Plugin
from app.contract.registry import PluginRegistry
from app.engine.isolation import PluginHost
from app.services import services
from tests.support.bad_plugins import AnyConfig, SnoopPlugin


class NativePlugin(Plugin):
    """A plugin that asks for a process of its own (it loads C code, say)."""

    id, name, config_schema = "native", "Native", AnyConfig
    isolation = "process"


class TrustMePlugin(SnoopPlugin):
    """A package's plugin that asks to run in a thread."""

    id, name = "trust_me", "Trust me"
    isolation = "thread"


def where(mode: str) -> dict[str, str]:
    registry = PluginRegistry().load(discover=False)
    registry.register(NativePlugin, "tests")
    registry.register(SnoopPlugin, "package snoop (tests.support.bad_plugins:SnoopPlugin)")
    registry.register(TrustMePlugin, "package trust-me (tests:TrustMePlugin)")
    host = PluginHost(registry, {"PLUGIN_ISOLATION": mode})
    return {pid: host.isolation(pid) for pid in ("webhook", "native", "snoop", "trust_me")}


def test_by_default_packages_run_in_processes_and_built_ins_in_threads():
    assert where("third-party") == {
        "webhook": "thread",
        "native": "process",
        "snoop": "process",
        "trust_me": "process",
    }


def test_process_mode_puts_every_plugin_in_a_process():
    assert set(where("process").values()) == {"process"}


def test_thread_mode_keeps_a_plugin_that_asks_for_a_process_in_one():
    assert where("thread") == {
        "webhook": "thread",
        "native": "process",
        "snoop": "thread",
        "trust_me": "thread",
    }


def test_an_unknown_mode_is_refused_at_start(make_app):
    with pytest.raises(ValueError, match="PLUGIN_ISOLATION must be one of"):
        make_app(PLUGIN_ISOLATION="sandbox")


def test_plugins_get_a_narrow_settings_view(app):
    registry = services(app).plugins
    for plugin_id in registry.ids():
        settings = registry.get(plugin_id).settings
        assert "SECRET_KEY" not in settings and "ENCRYPTION_KEYS" not in settings
        assert "MONGODB_URI" not in settings
        assert settings["ALLOW_PRIVATE_DESTINATIONS"] is True
        with pytest.raises(TypeError):
            settings["ALLOW_PRIVATE_DESTINATIONS"] = False  # read-only
    assert set(registry.get("slack").settings) == {"ALLOW_PRIVATE_DESTINATIONS", "SLACK_API_URL"}
