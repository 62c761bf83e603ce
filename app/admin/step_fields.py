"""The insert-field picker of the workflow step builder: for each step, the trigger's fields and the earlier
steps' outputs (``{{ steps.<name>.output.<key> }}``) it may use in its config."""

from __future__ import annotations

from typing import Any

from app.admin.config_form import ABOUT, IDENTIFIER, Insertable, insertables
from app.engine.host_steps import step_plugin
from app.models import Form, Workflow, WorkflowRun, find_by_id
from app.models.workflow import newest_runs
from app.services import services

SCHEDULE_FIELDS = ("fire_time", "timezone")


def _data(name: str) -> Insertable:
    text = f"{{{{ data.{name} }}}}" if IDENTIFIER.match(name) else f'{{{{ data["{name}"] }}}}'
    return Insertable(name, name, text)


def trigger_insertables(wf: Workflow, latest: WorkflowRun | None) -> list[Insertable]:
    """A form event's form fields; a schedule's fire time and zone; for other triggers the fields of the
    latest run's input."""
    kind = (wf.trigger or {}).get("type")
    if kind == "form_event":
        form = find_by_id(Form, (wf.trigger or {}).get("form_id") or "")
        return insertables(form.fields) if form is not None and form.workspace_id == wf.workspace_id else []
    if kind == "schedule":
        return [_data(name) for name in SCHEDULE_FIELDS]
    data = (((latest.trigger or {}) if latest else {}).get("data") or {}).get("data") or {}
    return [_data(str(k)) for k in data if isinstance(k, str)][:50] + list(ABOUT[1:2])


def _output_keys(step: dict[str, Any], latest: WorkflowRun | None) -> list[str]:
    plugin = step_plugin(services().plugins, step.get("plugin_id") or "")
    declared = list(getattr(plugin, "output_keys", ()) if plugin else ())
    record = ((latest.records or {}) if latest else {}).get(step.get("name") or "") or {}
    seen = [str(k) for k in (record.get("output") or {}) if IDENTIFIER.match(str(k))]
    return list(dict.fromkeys([*declared, *seen]))[:50]


def step_insertables(wf: Workflow, rows: int) -> list[list[Insertable]]:
    """What each of ``rows`` step rows may insert: the trigger's fields, then each earlier step's output
    keys (declared by a host step, or as the latest run recorded them)."""
    latest = next(iter(newest_runs(str(wf.id), 1)), None)
    trigger = trigger_insertables(wf, latest)
    found: list[list[Insertable]] = []
    earlier: list[Insertable] = []
    for i in range(rows):
        found.append([*trigger, *earlier])
        if i < len(wf.steps):
            step = wf.steps[i]
            name = step.get("name") or ""
            keys = _output_keys(step, latest)
            earlier += [
                Insertable(f"{name}: {key}", f"steps.{name}.output.{key}", f"{{{{ steps.{name}.output.{key} }}}}")
                for key in keys
            ] or [Insertable(f"{name}: its output", f"steps.{name}.output", f"{{{{ steps.{name}.output }}}}")]
    return found

