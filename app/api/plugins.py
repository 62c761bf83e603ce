"""The plugin catalogue, per-form integration configs, and "Test connection"."""

from __future__ import annotations

import time
from typing import Any

import marshmallow
from flask import current_app, jsonify, request

from app.api import bp
from app.api.conditions import checked_conditions
from app.api.schemas import PluginConfigIn, PluginConfigPatch, PluginTestIn
from app.api.scope import WRITE, scoped_or_404
from app.api.util import json_body, load
from app.auth import require_any_role
from app.contract import Plugin, PluginError
from app.contract.schema import mask, validate
from app.engine import circuit
from app.engine import jobs as lifecycle
from app.engine.backfill import missed_while_off
from app.engine.scheduler import wake_scheduler
from app.errors import invalid, not_found
from app.models import Form, PluginConfig, utcnow
from app.services import services


def plugin_or_404(plugin_id: str) -> Plugin:
    plugin = services().plugins.get(plugin_id)
    if plugin is None:
        raise not_found("plugin")
    return plugin


def config_json(cfg: PluginConfig) -> dict[str, Any]:
    plugin = services().plugins.get(cfg.plugin_id)
    shown = mask(plugin.config_schema(), cfg.config) if plugin else {}
    return {**cfg.to_dict(shown), "circuit": circuit.state_of({"circuit": cfg.circuit})}


def _validated(schema: marshmallow.Schema, raw: Any, opened: dict[str, Any] | None = None) -> dict[str, Any]:
    """``raw`` validated (keeping ``opened``'s secrets where allowed), or 422 naming each field."""
    try:
        return validate(schema, raw, opened)
    except marshmallow.ValidationError as err:
        raise invalid({"config": err.messages}) from None


def _normalised(plugin: Plugin, raw: Any, opened: dict[str, Any] | None = None) -> dict[str, Any]:
    """The config a save of ``raw`` over ``opened`` (secrets in clear) stores, in clear: what a Test of
    unsaved changes runs too, so it can never use a config a save would not produce. The plugin's
    ``on_save`` runs through the one door into plugin code; its failure is a 422."""
    try:
        return services(current_app).plugin_calls.on_save(
            plugin, _validated(plugin.config_schema(), raw, opened), opened
        )
    except PluginError as err:
        raise invalid({"config": [err.message]}) from None


def _checked_config(plugin: Plugin, raw: Any, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate a config through the plugin's schema and return it sealed (secrets encrypted)."""
    schema = plugin.config_schema()
    opened = services().secrets.open(schema, previous) if previous else None
    return services().secrets.seal(schema, _normalised(plugin, raw, opened))


def _triggers(plugin: Plugin, events: list[str] | None) -> list[str]:
    events = events or ["form.submitted"]
    unsupported = [e for e in events if e not in plugin.triggers]
    if unsupported:
        raise invalid({"trigger_events": [f"{plugin.name} does not support {', '.join(unsupported)}."]})
    return list(dict.fromkeys(events))


@bp.get("/plugins")
def list_plugins():
    return jsonify({"items": services().plugins.describe_all()})


@bp.get("/plugins/<plugin_id>")
def get_plugin(plugin_id: str):
    plugin_or_404(plugin_id)
    return jsonify(services().plugins.describe(plugin_id))


@bp.get("/forms/<form_id>/plugins")
def list_configs(form_id: str):
    form = scoped_or_404(Form, form_id, "form")
    return jsonify(
        {"items": [config_json(c) for c in PluginConfig.objects(form_id=str(form.id)).order_by("created_at")]}
    )


@bp.post("/forms/<form_id>/plugins")
def create_config(form_id: str):
    form = scoped_or_404(Form, form_id, "form", WRITE)
    data = load(PluginConfigIn(), json_body())
    plugin = _plugin_or_422(data["plugin_id"])
    cfg = PluginConfig(
        form_id=str(form.id),
        workspace_id=form.workspace_id,
        plugin_id=plugin.id,
        name=data["name"] or plugin.name,
        enabled=data["enabled"],
        config=_checked_config(plugin, data["config"]),
        trigger_events=_triggers(plugin, data["trigger_events"]),
        max_attempts=data["max_attempts"],
        conditions=checked_conditions(form, data["conditions"]),
        alerts_muted=data["alerts_muted"],
    ).save()
    return jsonify(config_json(cfg)), 201


def _plugin_or_422(plugin_id: str) -> Plugin:
    plugin = services().plugins.get(plugin_id)
    if plugin is None:
        raise invalid(
            {"plugin_id": [f"Unknown plugin {plugin_id!r}. Installed: {', '.join(services().plugins.ids())}."]}
        )
    return plugin


@bp.get("/plugin-configs/<config_id>")
def get_config(config_id: str):
    return jsonify(config_json(scoped_or_404(PluginConfig, config_id, "plugin config")))


@bp.patch("/plugin-configs/<config_id>")
def update_config(config_id: str):
    cfg = scoped_or_404(PluginConfig, config_id, "plugin config", WRITE)
    data = load(PluginConfigPatch(partial=True), json_body())
    if data.get("plugin_id") not in (None, cfg.plugin_id):
        raise invalid({"plugin_id": ["The plugin of a config cannot be changed; create a new config."]})
    plugin = plugin_or_404(cfg.plugin_id)
    if "config" in data:
        cfg.config = _checked_config(plugin, data["config"], cfg.config)
    if "trigger_events" in data:
        cfg.trigger_events = _triggers(plugin, data["trigger_events"])
    if "conditions" in data:
        cfg.conditions = checked_conditions(Form.objects.get(id=cfg.form_id), data["conditions"])
    if "alerts_muted" in data:
        cfg.alerts_muted = data["alerts_muted"]
    for name in ("name", "max_attempts"):
        if name in data and (data[name] is not None or name == "max_attempts"):
            setattr(cfg, name, data[name])
    gap = None
    if "enabled" in data and data["enabled"] != cfg.enabled:
        if data["enabled"]:
            gap = missed_while_off(cfg)
            cfg.disabled_reason, cfg.disabled_at = None, None
        else:
            cfg.disabled_at = utcnow()  # the start of the gap offered when it is switched on again
        cfg.enabled = data["enabled"]
    cfg.updated_at = utcnow()
    cfg.save()
    return jsonify({**config_json(cfg), **({"gap": gap} if gap else {})})


@bp.delete("/plugin-configs/<config_id>")
def delete_config(config_id: str):
    cfg = scoped_or_404(PluginConfig, config_id, "plugin config", WRITE)
    lifecycle.cancel_waiting("The integration was deleted.", config_id=str(cfg.id))
    cfg.delete()
    return "", 204


def run_test(plugin: Plugin, config: dict[str, Any]) -> dict[str, Any]:
    """The answer of Test connection (through the one door into plugin code)."""
    return services(current_app).plugin_calls.test_connection(plugin, config)


@bp.post("/plugins/<plugin_id>/test")
def test_unsaved(plugin_id: str):
    require_any_role(WRITE)
    plugin = plugin_or_404(plugin_id)
    body = load(PluginTestIn(), json_body())
    return jsonify(run_test(plugin, _normalised(plugin, body["config"])))


@bp.post("/plugin-configs/<config_id>/test")
def test_saved(config_id: str):
    """Test the saved config, or unsaved changes to it (``{"config"}``) with the saved secrets they keep."""
    cfg = scoped_or_404(PluginConfig, config_id, "plugin config", WRITE)
    plugin = plugin_or_404(cfg.plugin_id)
    schema = plugin.config_schema()
    config = services().secrets.open(schema, cfg.config)
    if request.get_data():  # a changed destination needs its secrets again
        config = _normalised(plugin, load(PluginTestIn(), json_body())["config"], config)
    return jsonify(run_test(plugin, config))


@bp.post("/plugin-configs/<config_id>/retry-now")
def retry_now(config_id: str):
    """Try an integration's held-back jobs at once: an open circuit's cool-down ends (the next job is its
    trial) and jobs waiting for the circuit or a retry's back-off become due now."""
    cfg = scoped_or_404(PluginConfig, config_id, "plugin config", WRITE)
    now = time.time()
    shortened = circuit.retry_now(cfg.id, now)
    moved = lifecycle.bring_forward(str(cfg.id), now)
    wake_scheduler(current_app)
    cfg.reload()
    return jsonify(
        {
            "circuit_retried": shortened,
            "jobs_due_now": moved,
            "circuit": circuit.state_of({"circuit": cfg.circuit}),
        }
    )


@bp.post("/plugin-configs/<config_id>/retry-failed")
def retry_failed(config_id: str):
    """Resend every failed job of an integration."""
    cfg = scoped_or_404(PluginConfig, config_id, "plugin config", WRITE)
    retried = lifecycle.resend_failed(str(cfg.id), current_app.config["MAX_ATTEMPTS"])
    wake_scheduler(current_app)
    return jsonify({"retried": retried})
