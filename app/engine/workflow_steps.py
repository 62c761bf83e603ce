"""A workflow step's inputs: its config rendered for one run, its condition's data, the payload it is sent.

A step's config fields are templates (app/templating.py: sandboxed, within the render budget) over the
trigger's data and the earlier steps' outputs (``{{ steps.contact.output.id }}``). Fields the plugin renders
itself (declared with ``Template``: a Slack message's text) are left to it: it is sent ``steps`` in its
payload, so a value is never rendered twice. Secret fields are never rendered.
"""

from __future__ import annotations

import json
import re
from typing import Any

import marshmallow

from app import template_budget
from app.contract import Plugin, PluginError
from app.contract.schema import MASK, mask, refuse_moved_secrets, secret_fields, validate
from app.engine.schemas import config_schema_of
from app.secrets_box import SecretBox
from app.templating import check_template, render, template_context

STEP_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# A step's config as rendered for a run, as JSON: its job and its run's record hold it (with the trigger's
# data and every step's output: all of it must fit in one document of the store, 16 MiB).
INPUT_LIMIT = 256 * 1024
TEMPLATE_MARKS = ("{{", "{%")
STEP_FIELDS = "steps."  # the condition fields naming earlier steps' outputs


class StepError(Exception):
    """A step that cannot run as configured for this run (a template or the rendered config is wrong)."""


def is_template(value: Any) -> bool:
    return isinstance(value, str) and any(mark in value for mark in TEMPLATE_MARKS)


def plugin_templates(schema: marshmallow.Schema) -> dict[str, str]:
    """The fields the plugin renders itself, and their escaping mode."""
    return {
        name: f.metadata["x-template"] for name, f in schema.fields.items() if f.metadata.get("x-template")
    }


@template_budget.one_budget()
def checked_config(
    plugin: Plugin, box: SecretBox, raw: Any, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A step config as saved (secrets sealed; ``previous``, sealed, keeps secrets sent back masked).
    Fields holding templates are checked once rendered, at run time; the others here. Its templates, tried
    on a sample, share one template budget (as when a run renders them). Raises
    marshmallow.ValidationError naming the fields."""
    schema = config_schema_of(plugin)
    opened = box.open(schema, previous) if previous else None
    if isinstance(raw, dict):
        _check_templates(raw, set(secret_fields(schema)) | set(plugin_templates(schema)))
    try:
        return box.seal(schema, validate(schema, raw, opened))
    except marshmallow.ValidationError as err:
        messages = err.messages if isinstance(err.messages, dict) else {"config": err.messages}
        left = {k: v for k, v in messages.items() if not is_template((raw or {}).get(k))}
        if left or not isinstance(raw, dict):
            raise marshmallow.ValidationError(left or messages) from None
    # a templated field failed its check: keep what validate would, never a secret whose destination moved
    kept = {
        n: opened[n] for n in secret_fields(schema) if opened and opened.get(n) and raw.get(n) in (None, MASK)
    }
    refuse_moved_secrets(schema, kept, raw, opened or {})
    config = {k: v for k, v in raw.items() if v != MASK} | kept
    return box.seal(schema, config)


def _check_templates(raw: dict[str, Any], skip: set[str]) -> None:
    """Every template in ``raw`` (outside ``skip``: secrets, and fields the plugin checks itself) compiles
    and keeps within its budget on a sample; raises marshmallow.ValidationError naming the fields."""
    errors: dict[str, list[str]] = {}
    for name, value in raw.items():
        if name in skip:
            continue
        for source in _strings(value):
            if is_template(source):
                try:
                    check_template(source)
                except marshmallow.ValidationError as err:
                    errors.setdefault(name, []).extend(
                        err.messages if isinstance(err.messages, list) else [str(err)]
                    )
    if errors:
        raise marshmallow.ValidationError(errors)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []


def trigger_payload(kind: str, data: Any, workflow: dict[str, Any], occurred_at: str) -> dict[str, Any]:
    """The payload of a trigger that is no form event (inbound, schedule, manual): ``data`` is its input."""
    return {
        "event": f"workflow.{kind}",
        "form": {"id": None, "name": workflow.get("name"), "fields": []},
        "submission": None,
        "data": data if isinstance(data, dict) else {"value": data},
        "occurred_at": occurred_at,
    }


def step_payload(trigger: dict[str, Any], steps: list[dict[str, Any]], records: dict[str, Any]) -> dict:
    """What a step is sent: the trigger's payload and ``steps``, each earlier step's output by name."""
    done = {
        step["name"]: {"output": (records.get(step["name"]) or {}).get("output") or {}}
        for step in steps
        if (records.get(step["name"]) or {}).get("status") == "succeeded"
    }
    return {**trigger, "steps": done}


def condition_data(payload: dict[str, Any]) -> dict[str, Any]:
    """What a step's condition is tested on: the trigger's data fields, and ``steps.<name>.output.<key>``
    (only the steps': a trigger's field named so, from an inbound caller say, is left out)."""
    data = {k: v for k, v in (payload.get("data") or {}).items() if not str(k).startswith(STEP_FIELDS)}
    for name, step in (payload.get("steps") or {}).items():
        for key, value in (step.get("output") or {}).items():
            data[f"steps.{name}.output.{key}"] = value
    return data


@template_budget.one_budget()
def rendered(
    plugin: Plugin, box: SecretBox, stored: dict[str, Any], payload: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The step's config for this run, sealed, and as shown in the run (secrets masked, the plugin's own
    templates rendered too), its templates within one template budget together (a step may hold thousands:
    each with its own budget, one step held a thread that moves every workspace's runs on for minutes).
    Raises StepError saying which field is wrong."""
    schema = config_schema_of(plugin)
    context = template_context(payload)
    own, secrets = plugin_templates(schema), set(secret_fields(schema))
    opened = box.open(schema, stored)
    try:
        config = {
            name: value if name in own or name in secrets else _render_value(value, context, name)
            for name, value in opened.items()
        }
    except PluginError as exc:
        raise StepError(exc.message) from None
    try:
        loaded = validate(schema, config)
    except marshmallow.ValidationError as err:
        raise StepError(f"The step's config, rendered for this run, is not valid: {err.messages}") from None
    shown = mask(schema, loaded)
    for name, mode in own.items():
        try:
            if isinstance(shown.get(name), str):
                shown[name] = render(shown[name], context, mode, name)
            elif isinstance(shown.get(name), list):  # a list of templates, or of rows holding some
                only = _row_templates(schema.fields[name])
                shown[name] = [
                    {k: _render_value(v, context, name, mode) if k in only else v for k, v in row.items()}
                    if only is not None and isinstance(row, dict)
                    else _render_value(row, context, name, mode)
                    for row in shown[name]
                ]
        except PluginError as exc:
            raise StepError(exc.message) from None
    size = max(len(json.dumps(part, default=str).encode()) for part in (loaded, shown))
    if size > INPUT_LIMIT:
        raise StepError(
            f"The step's config, rendered for this run, is {size:,} bytes as JSON, over the limit of "
            f"{INPUT_LIMIT:,}."
        )
    return box.seal(schema, loaded), shown


def _row_templates(field: marshmallow.fields.Field) -> set[str] | None:
    """The keys of a list field's rows that the plugin renders (its nested schema's templates: a Sheets
    column's ``value``, not its ``header``); None when the rows are no nested schema."""
    inner = getattr(field, "inner", None)
    if isinstance(inner, marshmallow.fields.Nested) and isinstance(inner.schema, marshmallow.Schema):
        return set(plugin_templates(inner.schema))
    return None


def _render_value(value: Any, context: dict[str, Any], what: str, mode: str = "text") -> Any:
    if is_template(value):
        return render(value, context, mode, what)
    if isinstance(value, list):
        return [_render_value(v, context, what, mode) for v in value]
    if isinstance(value, dict):
        return {k: _render_value(v, context, what, mode) for k, v in value.items()}
    return value
