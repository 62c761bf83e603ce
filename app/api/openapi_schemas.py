"""Output schemas of the API (marshmallow), for the OpenAPI document: what each view answers.

They mirror the models' ``to_dict``; the OpenAPI test (schemathesis) checks real answers against them.
"""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields

from app.models import JobStatus, LogStatus, Role
from app.models.form import FIELD_TYPES


class Out(Schema):
    """An answer: clients must ignore properties they do not know (new ones may appear)."""

    class Meta:
        unknown = INCLUDE


def time_field() -> fields.String:
    return fields.String(allow_none=True, metadata={"format": "date-time"})


def id_field(nullable: bool = False) -> fields.String:
    return fields.String(allow_none=nullable, metadata={"example": "6650c0ffee0000000000000a"})


class ErrorBody(Out):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Raw(required=True)


class ErrorOut(Out):
    error = fields.Nested(ErrorBody, required=True)


class PageOut(Out):
    items = fields.List(fields.Dict(), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    has_more = fields.Boolean(required=True)


class FormFieldOut(Out):
    name = fields.String(required=True)
    label = fields.String(required=True)
    type = fields.String(required=True, metadata={"enum": list(FIELD_TYPES)})
    required = fields.Boolean(required=True)
    options = fields.List(fields.String(), required=True)


class FormOut(Out):
    id = id_field()
    name = fields.String(required=True)
    workspace_id = id_field(nullable=True)
    accepting_submissions = fields.Boolean(required=True)
    allowed_origins = fields.List(fields.String(), required=True)
    retention_days = fields.Integer(allow_none=True, required=True)
    revision = fields.Integer(required=True)
    created_at = time_field()
    updated_at = time_field()
    fields = fields.List(fields.Nested(FormFieldOut), required=True)  # last: it shadows the module


class DayCountOut(Out):
    day = fields.String(required=True, metadata={"format": "date"})
    count = fields.Integer(required=True)


class FieldSummaryOut(Out):
    name = fields.String(required=True)
    label = fields.String(required=True)
    type = fields.String(required=True)
    kind = fields.String(required=True, metadata={"enum": ["options", "number", "text"]})
    filled = fields.Integer(required=True)
    fill_rate = fields.Float(required=True, allow_none=True)
    options = fields.List(fields.Dict(), metadata={"description": "options: value, count, share"})
    numbers = fields.Dict(
        allow_none=True,
        metadata={"description": "numbers: count, min, max, mean, median_approx, histogram [{from, to, count}]"},
    )
    top = fields.List(fields.Dict(), metadata={"description": "text: the most frequent values, with counts"})
    other = fields.Integer(metadata={"description": "text: values not counted one by one"})


class FormSummaryOut(Out):
    form_id = id_field()
    from_ = fields.String(required=True, data_key="from", metadata={"format": "date"})
    to = fields.String(required=True, metadata={"format": "date"})
    timezone = fields.String(required=True)
    total = fields.Integer(required=True)
    days = fields.List(fields.Nested(DayCountOut), required=True)
    fields_ = fields.List(fields.Nested(FieldSummaryOut), required=True, data_key="fields")


class FormPage(PageOut):
    items = fields.List(fields.Nested(FormOut), required=True)


class SubmissionOut(Out):
    id = id_field()
    form_id = id_field()
    data = fields.Dict(required=True)
    revision = fields.Integer(required=True)
    deleted = fields.Boolean(required=True)
    created_at = time_field()
    updated_at = time_field()


class SubmissionPage(PageOut):
    items = fields.List(fields.Nested(SubmissionOut), required=True)


class SubmissionAccepted(Out):
    id = id_field()
    jobs = fields.List(fields.String(), required=True)


class SubmissionChanged(SubmissionOut):
    jobs = fields.List(fields.String(), required=True)


class RevisionOut(Out):
    revision = fields.Integer(required=True)
    data = fields.Dict(required=True)
    updated_at = time_field()  # when this revision was written


class RevisionList(Out):
    revision = fields.Integer(required=True, metadata={"description": "The submission's current revision"})
    items = fields.List(
        fields.Nested(RevisionOut),
        required=True,
        metadata={
            "description": "Earlier revisions kept, newest first (the oldest beyond the limits are dropped)"
        },
    )


class SubmissionDeleted(Out):
    id = id_field()
    deleted = fields.Boolean(required=True)
    jobs = fields.List(fields.String(), required=True)


class RemovalOut(Out):
    id = id_field()
    kind = fields.String(required=True, metadata={"enum": ["retention", "purge", "erasure", "form_deletion"]})
    workspace_id = id_field(nullable=True)
    form_id = id_field(nullable=True)
    by = id_field(nullable=True)
    by_email = fields.String(allow_none=True)
    identifier = fields.String(allow_none=True, metadata={"description": "An erasure's address, masked"})
    operation_id = id_field(nullable=True)
    detail = fields.String(allow_none=True)
    submissions = fields.Integer(required=True)
    revisions = fields.Integer(required=True)
    postings = fields.Integer(required=True)
    jobs = fields.Integer(required=True)
    logs = fields.Integer(required=True)
    kept = fields.Integer(required=True, metadata={"description": "Left: a delivery was waiting or running"})
    remaining = fields.Boolean(
        required=True, metadata={"description": "A deleted form's: data still being removed in the background"}
    )
    created_at = time_field()
    updated_at = time_field()


class RemovalPage(PageOut):
    items = fields.List(fields.Nested(RemovalOut), required=True)


class SubmissionPurged(Out):
    id = id_field()
    purged = fields.Boolean(required=True)
    removal = fields.Nested(RemovalOut, required=True)


class DeletedPurged(Out):
    purged = fields.Integer(required=True)
    kept = fields.Integer(required=True)
    more = fields.Boolean(required=True, metadata={"description": "Some remain: send the request again"})
    removal = fields.Nested(RemovalOut, allow_none=True, required=True)


class PluginOut(Out):
    id = fields.String(required=True)
    name = fields.String(required=True)
    version = fields.String(required=True)
    description = fields.String(required=True)
    category = fields.String(required=True)
    icon = fields.String(required=True)
    triggers = fields.List(fields.String(), required=True)
    secret_fields = fields.List(fields.String(), required=True)
    rate_limit = fields.Dict(allow_none=True)
    config_schema = fields.Dict(required=True)


class PluginList(Out):
    items = fields.List(fields.Nested(PluginOut), required=True)


class CircuitOut(Out):
    state = fields.String(required=True)
    consecutive_failures = fields.Integer(required=True)


class PluginConfigOut(Out):
    id = id_field()
    form_id = id_field()
    workspace_id = id_field(nullable=True)
    plugin_id = fields.String(required=True)
    name = fields.String(required=True)
    enabled = fields.Boolean(required=True)
    config = fields.Dict(required=True, metadata={"description": "Settings; secrets shown masked"})
    trigger_events = fields.List(fields.String(), required=True)
    max_attempts = fields.Integer(allow_none=True)
    conditions = fields.Dict(
        allow_none=True,
        metadata={"description": "Conditional trigger (see the README); null runs for every event"},
    )
    skipped_events = fields.Integer(
        required=True, metadata={"description": "Events whose data did not match the conditions"}
    )
    conditions_over_budget = fields.Integer(
        required=True,
        metadata={"description": "Of the skipped events, those whose conditions ran past their CPU budget"},
    )
    alerts_muted = fields.Boolean(required=True)
    disabled_reason = fields.String(allow_none=True)
    disabled_at = time_field()
    created_at = time_field()
    updated_at = time_field()
    circuit = fields.Nested(CircuitOut)
    gap = fields.Nested(
        "GapOut",
        metadata={
            "description": "Only in the answer that switches an integration back on: the submissions it "
            "missed while off, to send with a backfill over since/until"
        },
    )


class GapOut(Out):
    since = time_field()
    until = time_field()
    submissions = fields.Integer(required=True, metadata={"description": "How many, counted up to 10,000"})
    more = fields.Boolean(required=True, metadata={"description": "More arrived than ``submissions`` says"})


class RetryNowOut(Out):
    circuit_retried = fields.Boolean(
        required=True,
        metadata={"description": "An open circuit's cool-down was ended: the next job is its trial"},
    )
    jobs_due_now = fields.Integer(required=True, metadata={"description": "Held-back jobs made due now"})
    circuit = fields.Nested(CircuitOut)


class ConditionMatchOut(Out):
    submission_id = id_field()
    created_at = time_field()
    matches = fields.Boolean(required=True)
    over_budget = fields.Boolean(
        required=True,
        metadata={"description": "Took more than one event's CPU budget: skipped as not matching"},
    )


class ConditionCheckOut(Out):
    items = fields.List(fields.Nested(ConditionMatchOut), required=True)
    matched = fields.Integer(required=True)
    checked = fields.Integer(required=True)
    over_budget = fields.Integer(required=True)
    complete = fields.Boolean(
        required=True, metadata={"description": "False when the check stopped at its CPU budget for all"}
    )
    message = fields.String(allow_none=True, metadata={"description": "Why the check is partial, if it is"})


class AlertOut(Out):
    id = id_field()
    workspace_id = id_field(nullable=True)
    config_id = id_field(nullable=True)
    kind = fields.String(
        required=True, metadata={"enum": ["circuit_open", "disabled", "failure_rate", "digest"]}
    )
    title = fields.String(required=True)
    message = fields.String(required=True)
    link = fields.String(allow_none=True)
    deliveries = fields.List(fields.Dict(), required=True)
    created_at = time_field()
    state = fields.String(required=True, metadata={"enum": ["open", "acknowledged", "resolved", "digest"]})
    acknowledged = fields.Dict(
        allow_none=True, required=True, metadata={"description": "{at, by: {id, name}}; null until acknowledged"}
    )
    resolved_at = time_field()


class AlertPage(PageOut):
    items = fields.List(fields.Nested(AlertOut), required=True)


class AlertSettingsOut(Out):
    workspace_id = id_field()
    email = fields.Boolean(required=True)
    channel_config_id = id_field(nullable=True)
    digest = fields.Boolean(required=True)


class OperationOut(Out):
    id = id_field()
    workspace_id = id_field(nullable=True)
    kind = fields.String(required=True, metadata={"enum": ["backfill", "replay", "erasure"]})
    params = fields.Dict(required=True)
    status = fields.String(required=True, metadata={"enum": ["running", "completed", "cancelled", "failed"]})
    preview = fields.Boolean(required=True, metadata={"description": "Only counts its items"})
    prepared = fields.Boolean(required=True, metadata={"description": "Its items are known (total is set)"})
    total = fields.Integer(
        allow_none=True, metadata={"description": "Items it goes through; null until prepared"}
    )
    done = fields.Integer(required=True)
    created = fields.Integer(required=True, metadata={"description": "Jobs created or requeued"})
    skipped = fields.Integer(required=True, metadata={"description": "Had a job already, or did not match"})
    failures = fields.Integer(required=True)
    progress = fields.Float(required=True)
    eta_seconds = fields.Float(allow_none=True)
    error = fields.String(allow_none=True)
    created_by = fields.String(allow_none=True)
    created_at = time_field()
    finished_at = time_field()


class OperationPage(PageOut):
    items = fields.List(fields.Nested(OperationOut), required=True)


class PluginConfigList(Out):
    items = fields.List(fields.Nested(PluginConfigOut), required=True)


class TestResultOut(Out):
    success = fields.Boolean(required=True)
    message = fields.String(required=True)
    details = fields.Raw(allow_none=True)


class RetriedOut(Out):
    retried = fields.Integer(required=True)


class LogOut(Out):
    id = id_field()
    job_id = id_field()
    config_id = id_field()
    form_id = id_field(nullable=True)
    workspace_id = id_field(nullable=True)
    submission_id = id_field(nullable=True)
    plugin_id = fields.String(allow_none=True)
    attempt = fields.Integer(required=True)
    event = fields.String(allow_none=True)
    status = fields.String(allow_none=True, metadata={"enum": [s.value for s in LogStatus] + [None]})
    executed_at = time_field()
    duration_ms = fields.Integer(allow_none=True)
    summary = fields.String(allow_none=True)
    error_type = fields.String(allow_none=True)
    error_message = fields.String(allow_none=True)
    request = fields.Dict(allow_none=True)
    response = fields.Dict(allow_none=True)


class LogPage(PageOut):
    items = fields.List(fields.Nested(LogOut), required=True)


class JobOut(Out):
    id = id_field()
    config_id = id_field()
    form_id = id_field()
    workspace_id = id_field(nullable=True)
    submission_id = id_field(nullable=True)
    plugin_id = fields.String(required=True)
    event = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": [s.value for s in JobStatus]})
    scheduled_for = time_field()
    attempts = fields.Integer(required=True)
    max_attempts = fields.Integer(required=True)
    last_error = fields.String(allow_none=True)
    idempotency_key = fields.String(required=True)
    started_at = time_field()
    completed_at = time_field()
    created_at = time_field()
    updated_at = time_field()
    payload = fields.Dict(required=True)


class JobPage(PageOut):
    items = fields.List(fields.Nested(JobOut), required=True)


class JobDetail(JobOut):
    logs = fields.List(fields.Nested(LogOut), required=True)


class UserOut(Out):
    id = id_field()
    email = fields.String(required=True)
    name = fields.String(required=True)
    active = fields.Boolean(required=True)
    created_at = time_field()


class WorkspaceOut(Out):
    id = id_field()
    name = fields.String(required=True)
    role = fields.String(allow_none=True, metadata={"enum": [r.value for r in Role] + [None]})
    created_at = time_field()


class WorkspaceList(Out):
    items = fields.List(fields.Nested(WorkspaceOut), required=True)


class MeOut(Out):
    user = fields.Nested(UserOut, required=True)
    via = fields.String(required=True, metadata={"enum": ["session", "token", "admin_token"]})
    workspaces = fields.List(fields.Nested(WorkspaceOut), required=True)
    csrf_token = fields.String(allow_none=True, metadata={"description": "Send as X-CSRFToken (sessions)"})


class MemberOut(Out):
    user = fields.Nested(UserOut, required=True)
    role = fields.String(required=True, metadata={"enum": [r.value for r in Role]})


class InvitationOut(Out):
    id = id_field()
    email = fields.String(required=True)
    role = fields.String(required=True, metadata={"enum": [r.value for r in Role]})
    created_at = time_field()
    expires_at = time_field()


class InvitationCreated(InvitationOut):
    link = fields.String(required=True, metadata={"description": "The invitation link; shown only this once"})
    emailed = fields.Boolean(required=True, metadata={"description": "It was e-mailed (SMTP_URL is set)"})


class InvitationList(Out):
    items = fields.List(fields.Nested(InvitationOut), required=True)


class InvitationInfo(InvitationOut):
    workspace = fields.Dict(required=True)


class InvitationAccepted(Out):
    user = fields.Nested(UserOut, required=True)
    workspace_id = id_field()
    role = fields.String(required=True, metadata={"enum": [r.value for r in Role]})


class MemberList(Out):
    items = fields.List(fields.Nested(MemberOut), required=True)


class TokenOut(Out):
    id = id_field()
    name = fields.String(required=True)
    prefix = fields.String(required=True)
    created_at = time_field()
    last_used_at = time_field()
    revoked = fields.Boolean(required=True)
    revoked_at = time_field()


class TokenCreated(TokenOut):
    token = fields.String(required=True, metadata={"description": "The token; shown only this once"})


class TokenList(Out):
    items = fields.List(fields.Nested(TokenOut), required=True)
