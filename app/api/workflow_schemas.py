"""What the workflow endpoints answer, for the OpenAPI document (see app.api.openapi_schemas)."""

from __future__ import annotations

from marshmallow import fields

from app.api.openapi_schemas import CircuitOut, Out, PageOut, id_field, time_field
from app.models.workflow import ON_ERROR, TRIGGER_TYPES, RunStatus, WorkflowStatus

STEP_STATUSES = ["waiting", "pending", "succeeded", "failed", "skipped", "cancelled"]


class TriggerOut(Out):
    type = fields.String(required=True, metadata={"enum": list(TRIGGER_TYPES)})


class StepOut(Out):
    name = fields.String(required=True)
    plugin_id = fields.String(required=True)
    config = fields.Dict(required=True, metadata={"description": "Secrets that are set show as ********"})
    condition = fields.Dict(allow_none=True)
    on_error = fields.String(required=True, metadata={"enum": list(ON_ERROR)})
    retries = fields.Integer(required=True)
    delay_seconds = fields.Integer()
    circuit = fields.Nested(
        CircuitOut,
        metadata={"description": "The step's circuit: open after repeated failures, its jobs wait"},
    )


class WorkflowOut(Out):
    id = id_field()
    workspace_id = id_field()
    name = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": [s.value for s in WorkflowStatus]})
    trigger = fields.Nested(TriggerOut, required=True)
    steps = fields.List(fields.Nested(StepOut), required=True)
    version = fields.Integer(required=True)
    inbound_path = fields.String(
        allow_none=True,
        metadata={"description": "The inbound trigger's secret URL path (POST a JSON object); null for a viewer"},
    )
    inbound_signed = fields.Boolean(required=True)
    inbound_previous_secret_until = fields.String(
        allow_none=True,
        metadata={
            "format": "date-time",
            "description": "Until when calls signed with the replaced signing secret are accepted too",
        },
    )
    created_at = time_field()
    updated_at = time_field()


class WorkflowPage(PageOut):
    items = fields.List(fields.Nested(WorkflowOut), required=True)


class RunOut(Out):
    id = id_field()
    workflow_id = id_field()
    workspace_id = id_field()
    name = fields.String(allow_none=True)
    version = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"enum": [s.value for s in RunStatus]})
    trigger_type = fields.String(allow_none=True, metadata={"enum": [*TRIGGER_TYPES, None]})
    current_step = fields.Integer(required=True)
    error = fields.String(allow_none=True)
    replay_of = id_field(nullable=True)
    created_at = time_field()
    updated_at = time_field()
    finished_at = time_field()


class StepRunOut(Out):
    name = fields.String(required=True)
    plugin_id = fields.String(required=True)
    on_error = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": STEP_STATUSES})
    job_id = id_field(nullable=True)
    input = fields.Dict(
        allow_none=True, metadata={"description": "The step's config as rendered for the run"}
    )
    output = fields.Dict(allow_none=True)
    error = fields.String(allow_none=True)
    attempts = fields.Integer(required=True)
    started_at = time_field()
    finished_at = time_field()
    duration_ms = fields.Integer(allow_none=True)


class RunDetail(RunOut):
    trigger = fields.Dict(required=True)
    steps = fields.List(fields.Nested(StepRunOut), required=True)


class RunPage(PageOut):
    items = fields.List(fields.Nested(RunOut), required=True)


class StepPreviewOut(Out):
    input = fields.Dict(
        allow_none=True, metadata={"description": "The step's config rendered (secrets masked)"}
    )
    preview = fields.Dict(allow_none=True, metadata={"description": "What the plugin would send"})
    error = fields.String(allow_none=True)
