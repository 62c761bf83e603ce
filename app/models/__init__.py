"""MongoDB documents (mongoengine). The engine's hot path uses their raw collections directly."""

from app.models.accounts import ACCOUNT_MODELS, ApiToken, Membership, Role, User, Workspace
from app.models.alert import Alert, AlertCooldown, AlertSettings
from app.models.common import (
    as_datetime,
    created_field,
    find_by_id,
    isoformat,
    newest_first,
    parse_object_id,
    utcnow,
)
from app.models.execution_log import LogStatus, PluginExecutionLog
from app.models.figures import FormFigures
from app.models.form import Form, FormField, Submission
from app.models.idempotency import IdempotencyKey
from app.models.job import FINISHED, JobStatus, PluginJob
from app.models.operation import Operation, OperationChunk, OperationStatus
from app.models.plugin_config import PluginConfig
from app.models.removal import DataRemoval
from app.models.revision import SubmissionRevision
from app.models.search_terms import SubmissionTerm
from app.models.workflow import RunStatus, StepStatus, Workflow, WorkflowFile, WorkflowRun, WorkflowStatus

ALL_MODELS = (
    Form,
    Submission,
    SubmissionRevision,
    SubmissionTerm,
    FormFigures,
    PluginConfig,
    PluginJob,
    PluginExecutionLog,
    IdempotencyKey,
    Operation,
    OperationChunk,
    Alert,
    AlertSettings,
    AlertCooldown,
    DataRemoval,
    Workflow,
    WorkflowRun,
    WorkflowFile,
    *ACCOUNT_MODELS,
)
for _model in ALL_MODELS:
    _model._meta["auto_create_index"] = False  # app.db.ensure_indexes creates them once, at start-up

__all__ = [
    "Alert",
    "AlertCooldown",
    "AlertSettings",
    "DataRemoval",
    "ALL_MODELS",
    "ApiToken",
    "Membership",
    "Role",
    "User",
    "Workspace",
    "as_datetime",
    "find_by_id",
    "FINISHED",
    "Form",
    "FormField",
    "IdempotencyKey",
    "JobStatus",
    "LogStatus",
    "Operation",
    "OperationChunk",
    "OperationStatus",
    "PluginConfig",
    "PluginExecutionLog",
    "PluginJob",
    "RunStatus",
    "StepStatus",
    "Submission",
    "SubmissionRevision",
    "SubmissionTerm",
    "isoformat",
    "newest_first",
    "created_field",
    "parse_object_id",
    "utcnow",
    "Workflow",
    "WorkflowFile",
    "WorkflowRun",
    "WorkflowStatus",
]
