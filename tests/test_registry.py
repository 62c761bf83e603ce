"""Plugins from installed packages (entry points), duplicate ids, and the catalogue API."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.contract.registry import PluginRegistry, PluginRegistryError

FIXTURES = Path(__file__).parent / "fixtures"


def test_plugin_from_an_installed_entry_point_is_loaded(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES / "plugin_pkg"))
    registry = PluginRegistry().load()
    assert "demo" in registry.ids()
    described = registry.describe("demo")
    assert described["origin"].startswith("package fh-demo-plugin")
    assert set(described["config_schema"]["required"]) == {"api_key", "channel"}
    assert described["secret_fields"] == ["api_key"]


def test_a_duplicate_plugin_id_is_refused_with_a_clear_error(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES / "dup_pkg"))
    with pytest.raises(PluginRegistryError, match="'webhook' is declared twice.*fh-dup-plugin"):
        PluginRegistry().load()


def test_installed_plugin_is_usable_through_the_api(make_app, monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES / "plugin_pkg"))
    from tests.conftest import Api

    api = Api(make_app(PLUGIN_DISCOVERY=True).test_client())
    ids = [p["id"] for p in api.get("/api/plugins").json["items"]]
    assert "demo" in ids and "webhook" in ids
    form = api.create_form()
    created = api.add_plugin(form["id"], "demo", {"channel": "#general", "api_key": "k-123"})
    assert created["config"] == {"channel": "#general", "api_key": "********"}
    assert api.post(f"/api/plugin-configs/{created['id']}/test").json == {
        "success": True,
        "message": "ok",
        "details": {},
    }


def test_catalogue_lists_metadata_and_json_schema(api):
    webhook = api.get("/api/plugins/webhook").json
    assert webhook["name"] == "Webhook"
    assert set(webhook["triggers"]) == {
        "form.submitted",
        "form.updated",
        "response.edited",
        "response.deleted",
    }
    props = webhook["config_schema"]["properties"]
    assert props["url"]["type"] == "string"
    assert props["method"]["enum"] == ["POST", "PUT", "PATCH"]
    assert props["secret"]["writeOnly"] is True
    assert webhook["config_schema"]["required"] == ["url"]
