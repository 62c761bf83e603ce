"""PluginExecutionLog: one row per attempt, with what was sent, what came back and how long it took."""

from __future__ import annotations

from enum import StrEnum

from mongoengine import DateTimeField, DictField, Document, FloatField, IntField, StringField

from app.models.common import isoformat, utcnow


class LogStatus(StrEnum):
    SUCCESS = "success"
    FAILED = "failed"
    TIMEOUT = "timeout"
    UNKNOWN = "unknown"  # the process stopped during the call: it may have reached the destination


class PluginExecutionLog(Document):
    job_id = StringField(required=True)
    config_id = StringField(required=True)
    form_id = StringField(null=True)
    workspace_id = StringField(null=True)
    submission_id = StringField(null=True)
    plugin_id = StringField()
    attempt = IntField(required=True)
    worker = StringField(null=True)  # the scheduler (host:pid:id) that ran it
    event = StringField()
    status = StringField(choices=[s.value for s in LogStatus])
    executed_at = DateTimeField(default=utcnow)
    duration_ms = IntField()
    summary = StringField(null=True)  # what a successful attempt reported (ExecutionResult.summary)
    error_type = StringField(null=True)
    error_message = StringField(null=True)
    request = DictField()
    response = DictField()
    isolation = StringField(null=True)  # "thread" or "process"
    peak_memory_mb = FloatField(null=True)  # of the worker process, for attempts run in one
    output = StringField(null=True)  # what an attempt in a worker process wrote to stdout/stderr (bounded)
    output_data = DictField()  # ExecutionResult.output: what the attempt created, for later workflow steps

    meta = {
        "collection": "plugin_execution_logs",
        "indexes": [
            "job_id",
            ("config_id", "executed_at"),  # an integration's latest attempts (its health, alerts)
            "status",
            "form_id",
            "executed_at",
            # newest first per workspace and per form (app.models.newest: the API's list, the executions page)
            ("workspace_id", "executed_at"),
            ("form_id", "executed_at"),
        ],
    }

    def to_dict(self) -> dict:
        return {
            "id": str(self.id),
            "job_id": self.job_id,
            "config_id": self.config_id,
            "form_id": self.form_id,
            "workspace_id": self.workspace_id,
            "submission_id": self.submission_id,
            "plugin_id": self.plugin_id,
            "attempt": self.attempt,
            "worker": self.worker,
            "event": self.event,
            "status": self.status,
            "executed_at": isoformat(self.executed_at),
            "duration_ms": self.duration_ms,
            "summary": self.summary,
            "error_type": self.error_type,
            "error_message": self.error_message,
            "request": self.request,
            "response": self.response,
            "isolation": self.isolation,
            "peak_memory_mb": self.peak_memory_mb,
            "output": self.output,
            "output_data": self.output_data,
        }
