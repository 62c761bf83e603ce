"""The OpenAPI 3 document (``/api/openapi.json``), generated from the marshmallow schemas with apispec,
and a plain HTML reference of it (``/api/docs``, no JavaScript, nothing from a CDN)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import jinja2
import marshmallow
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, current_app, jsonify

import app as package
from app import paging
from app.api import account_schemas as acc
from app.api import bp
from app.api import openapi_schemas as out
from app.api import schemas as inp
from app.api import workflow_schemas as wfo
from app.api import workflows as wfi
from app.api.preview import PreviewIn, PreviewOut
from app.api.util import public
from app.models import JobStatus, LogStatus, RunStatus, WorkflowStatus
from app.services import services

OBJECT_ID = {"type": "string", "pattern": "^[0-9a-f]{24}$"}
ERRORS = {
    400: "Bad request (malformed JSON, bad query parameter, missing CSRF token)",
    401: "No valid token or session",
    403: "Your role in the workspace does not allow this",
    404: "Not found, or in a workspace you are not in",
    409: "Conflicts with the current state",
    413: "Body too large",
    422: "Validation failed; details per field",
    429: "Too many requests",
    503: "The database is unreachable; retry later",
}
PAGE = ("page", "per_page")


@dataclass(frozen=True)
class Op:
    """How one endpoint is documented: success answers, request body, query parameters."""

    summary: str
    ok: dict[int, type[marshmallow.Schema] | None]
    body: type[marshmallow.Schema] | None = None
    query: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


QUERY: dict[str, dict[str, Any]] = {
    "page": {"type": "integer", "minimum": 1, "maximum": paging.MAX_PAGE, "default": 1},
    "per_page": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
    "workspace_id": OBJECT_ID,
    "form_id": OBJECT_ID,
    "config_id": OBJECT_ID,
    "submission_id": OBJECT_ID,
    "job_id": OBJECT_ID,
    "include_deleted": {"type": "boolean", "default": False},
    "from": {"type": "string", "format": "date"},
    "to": {"type": "string", "format": "date"},
    "job_status": {"type": "string", "enum": [s.value for s in JobStatus]},
    "log_status": {"type": "string", "enum": [s.value for s in LogStatus]},
    "run_status": {"type": "string", "enum": [s.value for s in RunStatus]},
    "workflow_status": {"type": "string", "enum": [s.value for s in WorkflowStatus]},
    "workflow_id": OBJECT_ID,
}

OPS: dict[str, Op] = {
    "api.login": Op(
        "Log in with email and password (sets the session cookie)", {200: out.MeOut}, acc.LoginIn
    ),
    "api.logout": Op("End the session", {204: None}),
    "api.change_password": Op(
        "Change your password (other sessions end; `revoke_tokens` revokes your API tokens too)",
        {204: None},
        acc.PasswordIn,
    ),
    "api.me": Op("Who you are, your workspaces, and the CSRF token of your session", {200: out.MeOut}),
    "api.list_workspaces": Op("Your workspaces", {200: out.WorkspaceList}),
    "api.create_workspace": Op(
        "Create a workspace (you become its owner)", {201: out.WorkspaceOut}, acc.WorkspaceIn
    ),
    "api.get_workspace": Op("A workspace", {200: out.WorkspaceOut}),
    "api.rename_workspace": Op("Rename a workspace (owner)", {200: out.WorkspaceOut}, acc.WorkspaceIn),
    "api.delete_workspace": Op("Delete an empty workspace (owner)", {204: None}),
    "api.list_members": Op("Members of a workspace", {200: out.MemberList}),
    "api.invite_member": Op(
        "Invite an email address with a role; the link is shown only in this answer (owner)",
        {201: out.InvitationCreated},
        acc.InviteIn,
    ),
    "api.list_invitations": Op("Pending invitations of a workspace (owner)", {200: out.InvitationList}),
    "api.revoke_invitation": Op("Revoke a pending invitation (owner)", {204: None}),
    "api.get_invitation": Op("What an invitation link invites to (public)", {200: out.InvitationInfo}),
    "api.accept_invitation": Op(
        "Accept an invitation: your own password (new account) or your account's (public)",
        {200: out.InvitationAccepted},
        acc.AcceptIn,
    ),
    "api.change_member": Op("Change a member's role (owner)", {200: out.MemberOut}, acc.MemberPatch),
    "api.remove_member": Op("Remove a member (owner), or leave", {204: None}),
    "api.list_tokens": Op("Your personal API tokens", {200: out.TokenList}),
    "api.create_token": Op(
        "Create a personal API token (its value is shown only in this answer)",
        {201: out.TokenCreated},
        acc.TokenIn,
    ),
    "api.revoke_token": Op("Revoke one of your tokens", {204: None}),
    "api.create_form": Op(
        "Create a form (in `workspace_id`, else your default workspace)", {201: out.FormOut}, inp.FormIn
    ),
    "api.list_forms": Op(
        "Forms of your workspaces, newest first", {200: out.FormPage}, query=(*PAGE, "workspace_id")
    ),
    "api.get_form": Op("A form", {200: out.FormOut}),
    "api.update_form": Op("Change a form (emits form.updated)", {200: out.FormOut}, inp.FormIn),
    "api.delete_form": Op("Delete a form with its submissions and integrations", {204: None}),
    "api.create_submission": Op(
        "Submit a form (public; JSON or a browser's form post)",
        {202: out.SubmissionAccepted, 303: None},
        inp.SubmissionIn,
        extra={"form_encoded": True, "idempotency": True},
    ),
    "api.list_submissions": Op(
        "Submissions of a form, newest first", {200: out.SubmissionPage}, query=(*PAGE, "include_deleted")
    ),
    "api.form_summary": Op(
        "A form's results summary for a range of UTC days (by default the last 30): submissions per day and "
        "per field options with counts, numbers as a distribution (approximate median), text as fill rate "
        "and most frequent values; from figures kept as submissions are indexed (seconds behind)",
        {200: out.FormSummaryOut},
        query=("from", "to"),
    ),
    "api.get_submission": Op("A submission", {200: out.SubmissionOut}),
    "api.edit_submission": Op(
        "Edit a submission's data (emits response.edited)", {200: out.SubmissionChanged}, inp.SubmissionIn
    ),
    "api.delete_submission": Op("Delete a submission (emits response.deleted)", {200: out.SubmissionDeleted}),
    "api.restore_submission": Op("Undo a submission's delete (sends no event)", {200: out.SubmissionOut}),
    "api.purge_submission": Op(
        "Remove a deleted submission for good with its revisions, search postings, jobs and their logs "
        "(409 while a delivery of it waits or runs)",
        {200: out.SubmissionPurged},
    ),
    "api.purge_deleted": Op(
        "Remove a form's deleted submissions for good (at most 1,000 per request: `more` says if some remain)",
        {200: out.DeletedPurged},
    ),
    "api.start_erasure": Op(
        "Erase every submission holding an e-mail address across the workspace's forms, with everything held "
        "about them (a tracked operation; owner)",
        {202: out.OperationOut},
        inp.ErasureIn,
    ),
    "api.list_removals": Op(
        "Records of data removals (retention, purges, erasures), newest first",
        {200: out.RemovalPage},
        query=(*PAGE, "workspace_id", "form_id"),
    ),
    "api.list_revisions": Op(
        "The earlier revisions of a submission that edits replaced", {200: out.RevisionList}
    ),
    "api.list_plugins": Op("The installed plugins", {200: out.PluginList}),
    "api.get_plugin": Op("A plugin, with the JSON Schema of its config", {200: out.PluginOut}),
    "api.test_unsaved": Op("Test a config before saving it", {200: out.TestResultOut}, inp.PluginTestIn),
    "api.list_configs": Op("Integrations of a form", {200: out.PluginConfigList}),
    "api.create_config": Op("Add an integration to a form", {201: out.PluginConfigOut}, inp.PluginConfigIn),
    "api.get_config": Op("An integration (secrets masked)", {200: out.PluginConfigOut}),
    "api.update_config": Op(
        "Change an integration (omitted secrets are kept)", {200: out.PluginConfigOut}, inp.PluginConfigPatch
    ),
    "api.delete_config": Op("Delete an integration (its pending jobs are cancelled)", {204: None}),
    "api.check_conditions": Op(
        "Which recent submissions a condition set would let through",
        {200: out.ConditionCheckOut},
        inp.ConditionCheckIn,
    ),
    "api.backfill": Op(
        "Send the form's existing submissions to this integration (a tracked operation; a `preview` one only "
        "counts; 409 while the integration has one running, 429 past the workspace's or a resend's limit)",
        {202: out.OperationOut},
        inp.BackfillIn,
    ),
    "api.replay": Op(
        "Send again every job matching a filter (a tracked operation; a `preview` one only counts; 409 while "
        "one of its integrations has one running, 429 past the workspace's or a resend's limit)",
        {202: out.OperationOut},
        inp.ReplayIn,
    ),
    "api.list_operations": Op(
        "Backfills and replays, newest first", {200: out.OperationPage}, query=(*PAGE, "workspace_id")
    ),
    "api.get_operation": Op("An operation with its progress and ETA", {200: out.OperationOut}),
    "api.cancel_operation": Op(
        "Cancel a running operation (its jobs that have not run are cancelled)", {200: out.OperationOut}
    ),
    "api.list_alerts": Op(
        "Failure alerts of your workspaces, newest first", {200: out.AlertPage}, query=(*PAGE, "workspace_id")
    ),
    "api.acknowledge_alert": Op("Acknowledge an alert (editor); the first acknowledgement is kept", {200: out.AlertOut}),
    "api.get_alert_settings": Op("Where the workspace's alerts go", {200: out.AlertSettingsOut}),
    "api.put_alert_settings": Op(
        "Set where the workspace's alerts go (owner)", {200: out.AlertSettingsOut}, inp.AlertSettingsIn
    ),
    "api.test_saved": Op(
        "Test a saved integration, or unsaved changes to it (its saved secrets are kept unless a field they "
        "are bound to changed)",
        {200: out.TestResultOut},
        inp.PluginTestIn,
        extra={"optional_body": True},
    ),
    "api.preview_config": Op(
        "What a config would send for a submission (or a sample), without sending",
        {200: PreviewOut},
        PreviewIn,
    ),
    "api.retry_now": Op(
        "Try an integration's held-back jobs now: an open circuit's cool-down ends and jobs waiting for it or "
        "for a retry's back-off become due",
        {200: out.RetryNowOut},
    ),
    "api.retry_failed": Op("Resend every failed job of an integration", {200: out.RetriedOut}),
    "api.list_jobs": Op(
        "Jobs, newest first",
        {200: out.JobPage},
        query=(*PAGE, "workspace_id", "form_id", "config_id", "submission_id", "job_status"),
    ),
    "api.get_job": Op("A job with its attempts", {200: out.JobDetail}),
    "api.retry_job": Op("Send a finished job again", {200: out.JobOut}),
    "api.cancel_job": Op("Cancel a pending job", {200: out.JobOut}),
    "api.list_logs": Op(
        "Execution logs (one per attempt), newest first",
        {200: out.LogPage},
        query=(*PAGE, "workspace_id", "job_id", "config_id", "form_id", "log_status"),
    ),
    "api.list_workflows": Op(
        "Workflows, newest first", {200: wfo.WorkflowPage}, query=(*PAGE, "workspace_id", "workflow_status")
    ),
    "api.create_workflow": Op(
        "Create a workflow: a trigger and ordered steps (422 past WORKFLOW_MAX_STEPS)",
        {201: wfo.WorkflowOut},
        wfi.WorkflowIn,
    ),
    "api.get_workflow": Op("A workflow (secrets masked)", {200: wfo.WorkflowOut}),
    "api.update_workflow": Op(
        "Change a workflow; a new trigger or steps is a new version (runs keep the one they started on)",
        {200: wfo.WorkflowOut},
        wfi.WorkflowIn,
    ),
    "api.run_workflow": Op(
        "Run now with a chosen input (202 once the run and its first job are written; 429 past the "
        "workspace's runs per minute)",
        {202: wfo.RunDetail},
        wfi.RunIn,
    ),
    "api.preview_step": Op(
        "What a step would send for sample data (its rendered config and the plugin's preview); sends nothing",
        {200: wfo.StepPreviewOut},
        wfi.StepPreviewIn,
    ),
    "api.list_runs": Op("A workflow's runs, newest first", {200: wfo.RunPage}, query=(*PAGE, "run_status")),
    "api.list_workspace_runs": Op(
        "Workflow runs of your workspaces, newest first",
        {200: wfo.RunPage},
        query=(*PAGE, "workspace_id", "workflow_id", "run_status"),
    ),
    "api.get_run": Op(
        "A run with each step's rendered input, output, error, attempts and timing", {200: wfo.RunDetail}
    ),
    "api.retry_run": Op(
        "Run a failed run again from its failed step (409 unless failed)", {200: wfo.RunDetail}
    ),
    "api.replay_run": Op(
        "Replay a run: a new run with the same input and pinned steps", {202: wfo.RunDetail}
    ),
    "api.cancel_run": Op("Cancel a running run (409 unless running)", {200: wfo.RunDetail}),
    "api.openapi_json": Op("This document", {200: None}),
    "api.api_docs": Op("This document as a web page", {200: None}),
}


def _path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _schema_ref(spec: APISpec, schema: type[marshmallow.Schema]) -> dict[str, str]:
    name = schema.__name__
    if name not in spec.components.schemas:
        spec.components.schema(name, schema=schema)
    return {"$ref": f"#/components/schemas/{name}"}


def _operation(spec: APISpec, endpoint: str, method: str, arguments: set[str], is_public: bool) -> dict:
    op = OPS.get(endpoint) or Op(endpoint, {200: None})
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string"} if name in ("plugin_id", "token") else OBJECT_ID,
        }
        for name in sorted(arguments)
    ]
    for name in op.query:
        api_name = "status" if name.endswith("_status") else name
        params.append({"name": api_name, "in": "query", "required": False, "schema": QUERY[name]})
    if op.extra.get("idempotency"):
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 200},
            }
        )
    responses: dict[str, Any] = {}
    for status, schema in op.ok.items():
        entry: dict[str, Any] = {"description": "OK" if status < 300 else "Redirect to the thank-you page"}
        if schema is not None:
            entry["content"] = {"application/json": {"schema": _schema_ref(spec, schema)}}
        elif endpoint == "api.openapi_json":
            entry["content"] = {"application/json": {"schema": {"type": "object"}}}
        elif endpoint == "api.api_docs":
            entry["content"] = {"text/html": {"schema": {"type": "string"}}}
        responses[str(status)] = entry
    error = {"application/json": {"schema": _schema_ref(spec, out.ErrorOut)}}
    for status, text in ERRORS.items():
        content = dict(error)
        if status == 422 and op.extra.get("form_encoded"):
            content["text/html"] = {"schema": {"type": "string"}}
        responses.setdefault(str(status), {"description": text, "content": content})
    operation: dict[str, Any] = {
        "operationId": endpoint.removeprefix("api."),
        "summary": op.summary,
        "tags": [endpoint.removeprefix("api.").split("_")[-1]],
        "parameters": params,
        "responses": responses,
    }
    if is_public:
        operation["security"] = []
    if op.body is not None and method in ("POST", "PATCH", "PUT"):
        content = {"application/json": {"schema": _schema_ref(spec, op.body)}}
        if op.extra.get("form_encoded"):
            content["application/x-www-form-urlencoded"] = {
                "schema": {"type": "object", "additionalProperties": {"type": "string"}}
            }
        operation["requestBody"] = {"required": not op.extra.get("optional_body"), "content": content}
    return operation


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of every /api route of ``app``."""
    spec = APISpec(
        title="Formhooks API",
        version=package.__version__,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "Forms, submissions, integrations, jobs and accounts. Authenticate with "
            "`Authorization: Bearer <token>` (ADMIN_TOKEN or a personal token), or a session cookie plus "
            "the `X-CSRFToken` header on writes."
        },
        security=[{"bearerAuth": []}, {"sessionCookie": []}],
    )
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme("sessionCookie", {"type": "apiKey", "in": "cookie", "name": "session"})
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/") or rule.endpoint.startswith("api.static"):
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(_path(rule.rule), {})[method.lower()] = _operation(
                spec, rule.endpoint, method, set(rule.arguments), getattr(view, "_public", False)
            )
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def spec_for(app: Flask) -> dict[str, Any]:
    found = services(app)
    if found.openapi is None:
        found.openapi = build_spec(app)
    return found.openapi


_pages = jinja2.Environment(loader=jinja2.PackageLoader("app.api", "templates"), autoescape=True)


@bp.get("/openapi.json")
@public
def openapi_json():
    return jsonify(spec_for(current_app))


@bp.get("/docs")
@public
def api_docs():
    spec = spec_for(current_app)
    return _pages.get_template("api_docs.html").render(spec=spec, schemas=spec["components"]["schemas"])
