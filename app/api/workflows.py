"""Workflows and their runs: save, run now, list and read runs, retry, replay, cancel; and the inbound URL
(``POST /hooks/workflows/<token>``). Scoped per workspace: another workspace's workflow or run is a 404,
a viewer reads only."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
import uuid
from typing import Any

import marshmallow
from bson import ObjectId
from flask import Blueprint, current_app, jsonify, request
from marshmallow import RAISE, Schema, fields, pre_load, validate

from app.api import bp
from app.api.lists import newest_page
from app.api.schemas import one_line
from app.api.scope import WRITE, scoped_or_404, visible, workspace_for_new
from app.api.util import json_body, load, paginate, query_id, status_arg
from app.auth import current_principal
from app.auth.csrf import csrf
from app.contract import FORM_EVENTS
from app.contract.schema import mask
from app.engine.circuit import state_of, step_circuit_docs
from app.engine.conditions import ConditionError, parse
from app.engine.host_steps import HostStep, step_plugin
from app.engine.jobs import step_key
from app.engine.scheduler import wake_scheduler
from app.engine.schemas import config_schema_of
from app.engine.workflow_runs import RecentRuns, RunLimitError, RunStateError, runs
from app.engine.workflow_schedule import next_fire
from app.engine.workflow_steps import STEP_NAME, StepError, checked_config, rendered, trigger_payload
from app.engine.workflow_triggers import form_workflows
from app.errors import APIError, invalid, not_found
from app.models import Form, Workflow, WorkflowRun, WorkflowStatus, find_by_id, isoformat, utcnow
from app.models.workflow import ON_ERROR, TRIGGER_TYPES, RunStatus
from app.services import services
from plugins.webhook.rotation import DEFAULT_GRACE_HOURS
from plugins.webhook.signing import is_valid_secret, sign

hooks = Blueprint("workflow_hooks", __name__, url_prefix="/hooks")
SIGNATURE_TOLERANCE = 300  # seconds a signed inbound call's timestamp may be off
MAX_RETRIES = 10
MAX_DELAY = 7 * 86400
ROW_NUMBER = re.compile(r"[0-9]{1,6}\Z")  # a step builder row's number (str.isdigit: "²" too, and 5,000 digits)


class TriggerIn(Schema):
    class Meta:
        unknown = RAISE

    type = fields.String(required=True, validate=validate.OneOf(TRIGGER_TYPES))
    form_id = fields.String(load_default=None)
    events = fields.List(fields.String(validate=validate.OneOf(FORM_EVENTS)), load_default=None)
    conditions = fields.Raw(load_default=None, allow_none=True)
    cron = fields.String(load_default=None, validate=validate.Length(max=200))
    timezone = fields.String(load_default="UTC", validate=validate.Length(max=64))
    secret = fields.String(load_default=None, allow_none=True, load_only=True)
    new_url = fields.Boolean(
        load_default=False,
        load_only=True,
        metadata={"description": "inbound: a new secret URL; the one before stops working (one that leaked)"},
    )
    secret_grace_hours = fields.Float(
        load_default=DEFAULT_GRACE_HOURS,
        load_only=True,
        validate=validate.Range(0, 168),
        metadata={"description": "inbound: hours a replaced secret stays valid beside a new one (0: none)"},
    )


LOAD_ONLY = ("secret", "new_url", "secret_grace_hours")  # (taken by _inbound, never stored in the trigger)


class StepIn(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True)
    plugin_id = fields.String(required=True)
    config = fields.Dict(load_default=dict)
    condition = fields.Raw(load_default=None, allow_none=True)
    on_error = fields.String(load_default="stop", validate=validate.OneOf(ON_ERROR))
    retries = fields.Integer(load_default=0, validate=validate.Range(0, MAX_RETRIES))
    delay_seconds = fields.Integer(
        load_default=0,
        validate=validate.Range(0, MAX_DELAY),
        metadata={"description": "Wait this long before the step runs (at most 7 days)"},
    )

    @pre_load
    def _read_only(self, data: Any, **_: Any) -> Any:
        """A step sent back as it was read: its ``circuit`` is the engine's, shown but never taken."""
        if isinstance(data, dict) and "circuit" in data:
            data = {k: v for k, v in data.items() if k != "circuit"}
        return data


class WorkflowIn(Schema):
    class Meta:
        unknown = RAISE

    workspace_id = fields.String(load_default=None)
    name = fields.String(required=True, validate=[validate.Length(1, 200), one_line])
    status = fields.String(load_default="draft", validate=validate.OneOf([s.value for s in WorkflowStatus]))
    trigger = fields.Nested(TriggerIn, required=True)
    steps = fields.List(fields.Nested(StepIn), load_default=list)

    @pre_load
    def _step_rows(self, data: Any, **_: Any) -> Any:
        """The admin page's step builder sends its rows as ``{"0": {...}, "1": {...}}``: the steps in row
        order, empty rows left out."""
        rows = data.get("steps") if isinstance(data, dict) else None
        if isinstance(rows, dict) and all(isinstance(k, str) and ROW_NUMBER.match(k) for k in rows):
            data = {
                **data,
                "steps": [
                    row
                    for _, row in sorted(rows.items(), key=lambda item: int(item[0]))
                    if not isinstance(row, dict) or row.get("name") or row.get("plugin_id")
                ],
            }
        return data


class RunIn(Schema):
    class Meta:
        unknown = RAISE

    data = fields.Dict(load_default=dict)


# -- workflows --------------------------------------------------------------------------------------------


def workflow_json(wf: Workflow) -> dict[str, Any]:
    """A workflow as the API shows it: secrets masked, and each step's circuit (one read for all steps)."""
    return workflows_json([wf])[0]


def workflows_json(wfs: list[Workflow]) -> list[dict[str, Any]]:
    """``workflow_json`` of each, with one read of circuits for all their steps (a page of 100 read 100).
    The inbound URL starts runs: it is shown to those who may start them (an editor), not to a viewer."""
    circuits = step_circuit_docs([step_key(wf.id, step["name"]) for wf in wfs for step in wf.steps])
    caller = current_principal()
    shown: list[dict[str, Any]] = []
    for wf in wfs:
        steps = []
        for step in wf.steps:
            plugin = step_plugin(services().plugins, step["plugin_id"])
            config = mask(config_schema_of(plugin), step.get("config") or {}) if plugin else {}
            circuit = state_of(circuits.get(step_key(wf.id, step["name"])) or {})
            steps.append({**step, "config": config, "circuit": circuit})
        one = wf.to_dict(steps)
        if caller is None or not caller.can(wf.workspace_id, WRITE):
            one["inbound_path"] = None
        shown.append(one)
    return shown


def _checked_steps(
    raw: list[dict[str, Any]], previous: list[dict[str, Any]], workspace_id: str
) -> list[dict[str, Any]]:
    """Steps validated (422 naming ``steps.<i>.<field>``), configs sealed; a step keeps the secrets of the
    previous version's step of the same name and plugin when they are sent back masked or left out. A host
    step's form must be of ``workspace_id``."""
    limit = int(current_app.config["WORKFLOW_MAX_STEPS"])
    if len(raw) > limit:
        raise invalid({"steps": [f"A workflow has at most {limit} steps; this one has {len(raw)}."]})
    before = {s["name"]: s for s in previous}
    errors: dict[str, Any] = {}
    steps: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, step in enumerate(raw):
        name = step["name"]
        if not STEP_NAME.match(name):
            errors[f"steps.{i}.name"] = ["Use 1-40 lower-case letters, digits or _, starting with a letter."]
        elif name in seen:
            errors[f"steps.{i}.name"] = [f"Another step is called {name!r}: names are unique."]
        seen.add(name)
        plugin = step_plugin(services().plugins, step["plugin_id"])
        if plugin is None:
            errors[f"steps.{i}.plugin_id"] = [f"Unknown plugin {step['plugin_id']!r}."]
            continue
        old = before.get(name)
        old_config = old.get("config") if old and old["plugin_id"] == plugin.id else None
        try:
            config = checked_config(plugin, services().secrets, step["config"], old_config)
        except marshmallow.ValidationError as err:
            errors[f"steps.{i}.config"] = err.messages
            continue
        if isinstance(plugin, HostStep) and (scope := plugin.scope_errors(config, workspace_id)):
            errors[f"steps.{i}.config"] = scope
            continue
        try:
            condition = parse(step["condition"])
        except ConditionError as err:
            errors[f"steps.{i}.condition"] = err.messages
            continue
        steps.append({**step, "config": config, "condition": condition.to_dict() if condition else None})
    if errors:
        raise invalid(errors)
    return steps


def _checked_trigger(raw: dict[str, Any], workspace_id: str) -> dict[str, Any]:
    """The trigger validated for the workspace; the inbound secret goes to the workflow, sealed."""
    trigger = {k: v for k, v in raw.items() if v is not None and k not in LOAD_ONLY}
    kind = trigger["type"]
    if kind == "form_event":
        form = find_by_id(Form, raw.get("form_id") or "")
        if form is None or form.workspace_id != workspace_id:
            raise invalid({"trigger.form_id": ["No form of this workspace has this id."]})
        trigger["events"] = list(dict.fromkeys(raw.get("events") or ["form.submitted"]))
        try:
            conditions = parse(raw.get("conditions"), [f.name for f in form.fields])
        except ConditionError as err:
            raise invalid({f"trigger.conditions.{k}": v for k, v in err.messages.items()}) from None
        trigger["conditions"] = conditions.to_dict() if conditions else None
    else:
        for name in ("form_id", "events", "conditions"):
            trigger.pop(name, None)
    if kind == "schedule":
        try:
            trigger["timezone"] = raw.get("timezone") or "UTC"
            due = next_fire({**trigger, "cron": raw.get("cron") or ""}, dt.datetime.now(dt.UTC))
        except ValueError as exc:
            raise invalid({"trigger.cron": [f"Not a crontab line in a known time zone: {exc}"]}) from None
        if due is None:
            raise invalid({"trigger.cron": ["This schedule is never due (a day no month has, as 30 February)."]})
    else:
        trigger.pop("cron", None)
        trigger.pop("timezone", None)
    secret = raw.get("secret")
    if secret is not None and secret != "" and not is_valid_secret(secret):
        raise invalid({"trigger.secret": ["A signing secret is whsec_ followed by base64."]})
    return trigger


def _inbound(wf: Workflow, trigger: dict[str, Any]) -> None:
    """Give an inbound workflow its URL token (a new one when asked: ``new_url``) and set or clear its
    signing secret; a workflow whose trigger is no longer inbound loses its token (back to inbound, it gets a
    new one: the URL before is revoked). A new secret over another keeps the replaced one valid for
    ``secret_grace_hours`` (senders switch meanwhile); a new URL or no secret ends that at once (a leak).
    ``trigger``: as loaded by ``TriggerIn``."""
    if wf.trigger.get("type") != "inbound":
        wf.inbound_token = None
        _end_grace(wf)
        return
    new_url = bool(trigger.get("new_url")) or not wf.inbound_token  # (back to inbound: a new URL too)
    if new_url:
        wf.inbound_token = secrets.token_urlsafe(24)
        _end_grace(wf)
    given = trigger.get("secret")
    if given is None:
        return
    box = services().secrets
    before = box.decrypt(wf.inbound_secret) if wf.inbound_secret else None
    if not given:
        wf.inbound_secret = None
        _end_grace(wf)
    elif given != before:
        wf.inbound_secret = box.encrypt(given)
        _end_grace(wf)
        grace = float(trigger.get("secret_grace_hours", DEFAULT_GRACE_HOURS))
        if before and not new_url and grace > 0:
            wf.inbound_previous_secret = box.encrypt(before)
            wf.inbound_previous_until = utcnow() + dt.timedelta(hours=grace)


def _end_grace(wf: Workflow) -> None:
    wf.inbound_previous_secret = wf.inbound_previous_until = None


def _inbound_secrets(wf: Workflow) -> list[str]:
    """The secrets an inbound call may be signed with now: the current one, and a replaced one in its grace."""
    box = services().secrets
    replaced = [wf.inbound_previous_secret] if wf.previous_secret_until() else []
    return [box.decrypt(sealed) for sealed in (wf.inbound_secret, *replaced)]


def _status_filter(statuses: list[str]) -> dict[str, Any]:
    """``{"status": ...}`` from the ``?status=`` argument (none: no filter); one not in ``statuses`` is a 400."""
    status = status_arg(statuses)
    return {} if status is None else {"status": status}


@bp.get("/workflows")
def list_workflows():
    filters = visible(**_status_filter([s.value for s in WorkflowStatus]))
    return jsonify(paginate(Workflow.objects(**filters), serialize_page=workflows_json))


@bp.post("/workflows")
def create_workflow():
    body = json_body()
    data = load(WorkflowIn(), body)
    workspace_id = workspace_for_new(data["workspace_id"])
    wf = Workflow(
        workspace_id=workspace_id,
        name=data["name"],
        status=data["status"],
        trigger=_checked_trigger(data["trigger"], workspace_id),
        steps=_checked_steps(data["steps"], [], workspace_id),
    )
    _inbound(wf, data["trigger"])
    wf.save()
    form_workflows(current_app).forget()
    return jsonify(workflow_json(wf)), 201


@bp.get("/workflows/<workflow_id>")
def get_workflow(workflow_id: str):
    return jsonify(workflow_json(scoped_or_404(Workflow, workflow_id, "workflow")))


@bp.patch("/workflows/<workflow_id>")
def update_workflow(workflow_id: str):
    """Change a workflow; a change of its trigger or steps is a new version (runs started before keep
    theirs)."""
    wf = scoped_or_404(Workflow, workflow_id, "workflow", WRITE)
    body = json_body()
    data = load(WorkflowIn(partial=tuple(WorkflowIn().fields)), body)  # (top-level fields only)
    if data.get("workspace_id") not in (None, wf.workspace_id):
        raise invalid({"workspace_id": ["A workflow cannot move to another workspace."]})
    changed = False
    if "trigger" in data:
        wf.trigger = _checked_trigger(data["trigger"], wf.workspace_id)
        _inbound(wf, data["trigger"])
        changed = True
    if "steps" in data:
        wf.steps = _checked_steps(data["steps"], wf.steps, wf.workspace_id)
        changed = True
    if data.get("status", wf.status) != wf.status:  # resumed: the due times that passed meanwhile do not fire
        wf.next_fire_at = {}  # (the schedulers work it out again from this save: engine.workflow_schedule)
    for name in ("name", "status"):
        if name in data:
            setattr(wf, name, data[name])
    if changed:
        wf.version += 1
        wf.next_fire_at = {}  # the schedulers work out the new version's due time (engine.workflow_schedule)
    wf.updated_at = utcnow()
    wf.save()
    form_workflows(current_app).forget()
    return jsonify(workflow_json(wf))


@bp.post("/workflows/<workflow_id>/run")
def run_workflow(workflow_id: str):
    """Run now with ``data`` as the trigger's input: 202 once the run and its first job are written."""
    wf = scoped_or_404(Workflow, workflow_id, "workflow", WRITE)
    if wf.status == WorkflowStatus.ARCHIVED.value:
        raise APIError(409, "conflict", "An archived workflow does not run; set it to draft or active first.")
    data = load(RunIn(), json_body())["data"]
    return start_run(wf, "manual", data, f"{wf.id}:manual:{uuid.uuid4().hex}")


def start_run(wf: Workflow, kind: str, data: dict[str, Any], key: str):
    """Start a run of ``wf`` with ``data`` as its trigger's input (202), or answer with the run the same
    ``key`` started before (200); 429 over the workspace's runs per minute."""
    raw = Workflow._get_collection().find_one({"_id": wf.id})
    when = isoformat(utcnow()) or ""
    engine = runs(current_app)
    recent = RecentRuns()  # (one count of the workspace's runs, for the limit: a refusal counted twice)
    run, job = engine.new_run(raw, kind, trigger_payload(kind, data, raw, when), key, recent=recent)
    try:
        written = engine.start(run, job, recent=recent)
    except RunLimitError as exc:
        raise _too_many(exc) from None
    if not written:  # the same delivery again (an inbound call's webhook-id): the run it started
        found = WorkflowRun.objects(id=run["_id"]).first()
        return jsonify(found.to_dict(detail=True) if found else {}), 200
    wake_scheduler(current_app)
    return jsonify(WorkflowRun.objects.get(id=run["_id"]).to_dict(detail=True)), 202


class StepPreviewIn(Schema):
    class Meta:
        unknown = RAISE

    step = fields.String(required=True, metadata={"description": "The step's name"})
    data = fields.Dict(load_default=dict, metadata={"description": "The trigger's data (a sample)"})
    outputs = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(),
        load_default=dict,
        metadata={"description": "Earlier steps' outputs by step name, as samples"},
    )


@bp.post("/workflows/<workflow_id>/preview")
def preview_step(workflow_id: str):
    """What a step would send for sample data: its config rendered (secrets masked) and the plugin's own
    preview, through the one door into plugin code. Nothing is sent."""
    wf = scoped_or_404(Workflow, workflow_id, "workflow", WRITE)  # (as an integration's preview)
    body = load(StepPreviewIn(), json_body())
    step = next((s for s in wf.steps if s["name"] == body["step"]), None)
    plugin = step_plugin(services().plugins, step["plugin_id"]) if step else None
    if step is None or plugin is None:
        raise invalid({"step": [f"The workflow has no step {body['step']!r} with an installed plugin."]})
    raw = Workflow._get_collection().find_one({"_id": wf.id}) or {}
    payload = {
        **trigger_payload("manual", body["data"], raw, isoformat(utcnow()) or ""),
        "steps": {name: {"output": output} for name, output in body["outputs"].items()},
    }
    try:
        sealed, shown = rendered(plugin, services().secrets, step.get("config") or {}, payload)
    except StepError as exc:
        return jsonify({"input": None, "preview": None, "error": str(exc)})
    opened = services().secrets.open(config_schema_of(plugin), sealed)
    result = services(current_app).plugin_calls.preview(plugin, opened, payload["event"], payload)
    return jsonify({"input": shown, **result})


def _too_many(exc: RunLimitError) -> APIError:
    """The 429 of a run over the workspace's limit, naming the failed run recorded for it (if it was)."""
    return APIError(429, "too_many_runs", str(exc), {"run_id": str(exc.run["_id"]) if exc.recorded else None})


# -- runs -------------------------------------------------------------------------------------------------


def _run_filters() -> dict[str, Any]:
    return _status_filter([s.value for s in RunStatus])


@bp.get("/workflows/<workflow_id>/runs")
def list_runs(workflow_id: str):
    wf = scoped_or_404(Workflow, workflow_id, "workflow")
    return jsonify(newest_page(WorkflowRun, {"workflow_id": str(wf.id), **_run_filters()}, ("workflow_id",)))


@bp.get("/workflow-runs")
def list_workspace_runs():
    filters = _run_filters()
    if (wf_id := query_id("workflow_id")) is not None:
        filters["workflow_id"] = wf_id
    return jsonify(newest_page(WorkflowRun, filters, ("workflow_id",)))


@bp.get("/workflow-runs/<run_id>")
def get_run(run_id: str):
    return jsonify(scoped_or_404(WorkflowRun, run_id, "workflow run").to_dict(detail=True))


def _changed_run(run_id: str, action: str):
    """Apply ``action`` (retry, replay or cancel) to a run of the caller's workspace."""
    run = scoped_or_404(WorkflowRun, run_id, "workflow run", WRITE)
    engine = runs(current_app)
    try:
        if action == "cancel":
            engine.cancel(run.id)
        else:
            wf = Workflow._get_collection().find_one({"_id": ObjectId(run.workflow_id)})
            if wf is None:
                raise RunStateError("The run's workflow was deleted.")
            if wf.get("status") == WorkflowStatus.ARCHIVED.value:  # (as "run now")
                raise RunStateError("An archived workflow does not run; set it to draft or active first.")
            if action == "retry":
                engine.retry(run.id)
                wake_scheduler(current_app)
                return jsonify(run.reload().to_dict(detail=True))
            new = engine.replay(run.id, wf)
            wake_scheduler(current_app)
            return jsonify(WorkflowRun.objects.get(id=new["_id"]).to_dict(detail=True)), 202
    except RunStateError as err:
        raise APIError(409, "conflict", str(err)) from None
    except RunLimitError as exc:
        raise _too_many(exc) from None
    wake_scheduler(current_app)
    return jsonify(run.reload().to_dict(detail=True))


@bp.post("/workflow-runs/<run_id>/retry")
def retry_run(run_id: str):
    """Run a failed run again from its failed step."""
    return _changed_run(run_id, "retry")


@bp.post("/workflow-runs/<run_id>/replay")
def replay_run(run_id: str):
    """A new run with the same input and the same (pinned) steps."""
    return _changed_run(run_id, "replay")


@bp.post("/workflow-runs/<run_id>/cancel")
def cancel_run(run_id: str):
    """Cancel a running run."""
    return _changed_run(run_id, "cancel")


# -- inbound ----------------------------------------------------------------------------------------------


@hooks.post("/workflows/<token>")
@csrf.exempt  # no session credential is needed or used: the secret URL (and its signature) is the credential
def inbound(token: str):
    """An inbound call: its JSON object body is the run's input. With a signing secret set, the call must
    carry a valid Standard Webhooks signature (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``);
    its ``webhook-id`` then makes a repeated delivery start no second run."""
    wf = Workflow.objects(inbound_token=token).first() if token else None
    if wf is None or wf.trigger.get("type") != "inbound" or wf.status != WorkflowStatus.ACTIVE.value:
        raise not_found("workflow")
    key = f"{wf.id}:inbound:{uuid.uuid4().hex}"
    if wf.inbound_secret:
        msg_id = _verified(_inbound_secrets(wf))
        key = f"{wf.id}:inbound:{msg_id}"
    return start_run(wf, "inbound", json_body(), key)


def _verified(secrets_now: list[str]) -> str:
    """The ``webhook-id`` of a call whose signature is valid under one of ``secrets_now``; 401 otherwise."""
    msg_id = request.headers.get("webhook-id", "")
    stamp = request.headers.get("webhook-timestamp", "")
    given = request.headers.get("webhook-signature", "").split()
    try:
        timestamp = int(stamp)
    except ValueError:
        raise APIError(401, "bad_signature", "webhook-timestamp is missing or not a number.") from None
    if abs(int(time.time()) - timestamp) > SIGNATURE_TOLERANCE:  # (ints: a 400-digit stamp is no float)
        raise APIError(401, "bad_signature", "webhook-timestamp is more than 5 minutes off.")
    if not msg_id or len(msg_id) > 200:
        raise APIError(401, "bad_signature", "webhook-id is missing.")
    body = request.get_data()
    expected = [sign(secret, msg_id, timestamp, body).encode() for secret in secrets_now]
    # (as bytes: a header's non-ASCII text made compare_digest raise, a 500)
    if not any(secrets.compare_digest(e, candidate.encode()) for e in expected for candidate in given):
        raise APIError(401, "bad_signature", "The webhook-signature does not match the body.")
    return msg_id
