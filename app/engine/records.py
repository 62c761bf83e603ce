"""Typed records of what the engine reads from the store: a job and an integration config.

They are the raw documents (the hot path does not build objects), typed so that a misspelt field is a
type error in ``make lint``, not a KeyError at run time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypedDict

from bson import ObjectId


class JobRecord(TypedDict, total=False):
    """A ``plugin_jobs`` document."""

    _id: ObjectId
    config_id: str
    form_id: str
    workspace_id: str | None
    submission_id: str | None
    plugin_id: str
    event: str
    status: str
    scheduled_for: float  # epoch seconds
    attempts: int
    max_attempts: int
    last_error: str | None
    lease_owner: str | None
    lease_expires_at: float | None  # epoch seconds
    claim_token: str | None
    started_at: dt.datetime | str | None
    completed_at: dt.datetime | str | None
    payload: dict[str, Any]
    dispatch_key: str
    idempotency_key: str
    operation_id: str | None
    run_id: str | None  # a workflow step's run (app/engine/workflow_runs.py)
    step: int | None
    step_config: dict[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime | str


class ConfigRecord(TypedDict, total=False):
    """A ``plugin_configs`` document (``config`` holds secrets sealed)."""

    _id: ObjectId
    form_id: str
    workspace_id: str | None
    plugin_id: str
    name: str
    enabled: bool
    config: dict[str, Any]
    trigger_events: list[str]
    max_attempts: int | None
    conditions: dict[str, Any] | None
    skipped_events: int
    conditions_over_budget: int
    alerts_muted: bool
    disabled_reason: str | None
    disabled_at: dt.datetime | str | None
    circuit: dict[str, Any]
    _loaded_at: float  # monotonic time the runner read it (app/engine/runner.py)
