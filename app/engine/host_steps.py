"""Host steps: built-in workflow steps that read the store, so they run in the host process.

Plugin code may run in a worker process with no store access (engine.isolation), so a step that reads a
workspace's submissions cannot be an ordinary plugin. A host step is a ``Plugin`` subclass (the same config
schema, templates, secrets, preview and outcome handling through engine.plugin_calls) that:

- is not in the plugin registry (no integration uses it): ``step_plugin`` finds it by id for workflows;
- always runs in a thread of the host process, within the step's deadline (``ExecutionContext.deadline``);
- reads only its workflow's workspace: ``workspace_of(ctx)`` is the workspace of the step's job, and a form
  it names is checked against it when the workflow is saved (422) and again when the step runs;
- keeps within row and byte caps, and may store one file per step job in ``workflow_files`` (kept
  ``FILE_DAYS``). Its output names the file (``file_id``); every later step of the run is sent the file in
  its payload's ``files`` (``with_files``): the e-mail step attaches it.

A file holds submissions' data, so it goes with them: an erasure removes the files of its workspace that
hold the identifier (``erase_files``), and a form's retention the files of the form whose oldest submission
is past it (``expire_form_files``).
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from typing import Any, ClassVar

from bson import ObjectId

from app.contract import ExecutionContext, Plugin, PluginError, TestResult
from app.contract.registry import PluginRegistry
from app.engine.workflow_steps import is_template
from app.models import Form, PluginJob, parse_object_id, utcnow
from app.models.workflow import WorkflowFile

FILES_PER_PAYLOAD = 5  # files a step is sent, newest steps first
FILE_DAYS = 7  # a step's file is kept this long (for a retry or replay of its run's later steps), then deleted
# the bytes of one workspace's step files (kept FILE_DAYS): past it a step that makes one fails, saying so
# (a report step stores up to 5 MB a run: at the runs limit, one workspace stored 3 GB a minute)
WORKSPACE_FILE_BYTES = 1024 * 1024 * 1024
# the step files one workspace keeps at once: what adding up its bytes at each save reads (1.5 us a file on
# nx-27017; tiny files at the runs limit would have made each save read millions). A report every minute,
# kept FILE_DAYS, is 10,080.
WORKSPACE_FILES = 12_000


class HostStep(Plugin):
    """A workflow step run by the host (see the module). ``form_fields`` name config fields holding a form
    id of the workflow's workspace."""

    triggers: ClassVar[tuple[str, ...]] = ()
    isolation: ClassVar[str | None] = "thread"
    form_fields: ClassVar[tuple[str, ...]] = ()
    output_keys: ClassVar[tuple[str, ...]] = ()  # what its output holds (the step builder lists them)

    def test_connection(self, config: dict[str, Any]) -> TestResult:
        return TestResult(True, "A host step reads this workspace's data; there is nothing to connect to.")

    def scope_errors(self, config: dict[str, Any], workspace_id: str) -> dict[str, list[str]]:
        """Config fields naming a form of another workspace (or none), checked at save; templated ones are
        checked when the step runs."""
        return {
            name: ["No form of this workspace has this id."]
            for name in self.form_fields
            if not is_template(config.get(name)) and form_in(config.get(name), workspace_id) is None
        }


HOST_STEPS: dict[str, HostStep] = {}


def host_step(cls: type[HostStep]) -> type[HostStep]:
    """Register a host step class (a decorator)."""
    HOST_STEPS[cls.id] = cls()
    return cls


def step_plugin(registry: PluginRegistry, plugin_id: str) -> Plugin | None:
    """The plugin a workflow step runs: a host step, else an installed plugin."""
    _load()
    return HOST_STEPS.get(plugin_id) or registry.get(plugin_id)


def describe_host_steps() -> list[dict[str, Any]]:
    """The host steps as the plugin list describes plugins (for the step builder)."""
    from app.contract.schema import json_schema, secret_fields  # noqa: PLC0415

    _load()
    return [
        {
            "id": s.id,
            "name": s.name,
            "version": s.version,
            "description": s.description,
            "category": s.category,
            "icon": s.icon,
            "triggers": [],
            "secret_fields": secret_fields(s.config_schema()),
            "rate_limit": None,
            "config_schema": json_schema(s.config_schema),
            "origin": "host step",
        }
        for s in HOST_STEPS.values()
    ]


def _load() -> None:
    if not HOST_STEPS:
        from app.engine import report_steps  # noqa: F401, PLC0415  (registers its steps)


def workspace_of(ctx: ExecutionContext) -> str:
    """The workspace of the step's job (written by the engine, never taken from the config)."""
    job = PluginJob._get_collection().find_one({"_id": parse_object_id(ctx.job_id)}, {"workspace_id": 1})
    if not job or not job.get("workspace_id"):
        raise PluginError("This step runs only as a step of a workflow.", permanent=True)
    return str(job["workspace_id"])


def form_in(form_id: Any, workspace_id: str) -> dict[str, Any] | None:
    """The form ``form_id`` when it belongs to ``workspace_id``."""
    oid = parse_object_id(form_id) if isinstance(form_id, str) else None
    if oid is None:
        return None
    return Form._get_collection().find_one({"_id": oid, "workspace_id": workspace_id})


def save_file(
    job_id: str,
    workspace_id: str,
    filename: str,
    content_type: str,
    content: bytes,
    form_id: str | None = None,
    data_since: dt.datetime | None = None,
) -> dict[str, Any]:
    """Store a step's file (one per step job: an attempt again replaces it); its reference for the output.
    ``form_id``, ``data_since``: the form whose submissions it holds, and when the oldest was received.
    Raises a permanent PluginError when the workspace's files would take more than WORKSPACE_FILE_BYTES."""
    oid = parse_object_id(job_id) or ObjectId()
    replaced = WorkflowFile._get_collection().find_one({"_id": oid, "workspace_id": workspace_id}, {"bytes": 1})
    files, stored = stored_files(workspace_id)
    if replaced is None and files >= WORKSPACE_FILES:
        raise PluginError(
            f"This workspace keeps {WORKSPACE_FILES:,} step files (each kept {FILE_DAYS} days), the most it may.",
            permanent=True,
        )
    stored -= int((replaced or {}).get("bytes") or 0)
    if stored + len(content) > WORKSPACE_FILE_BYTES:
        raise PluginError(
            f"This workspace's step files (kept {FILE_DAYS} days) take {stored / 2**20:,.1f} MiB; this file of "
            f"{len(content) / 2**20:,.1f} MiB would pass the limit of {WORKSPACE_FILE_BYTES / 2**20:,.0f} MiB.",
            permanent=True,
        )
    doc = {
        "_id": oid,
        "workspace_id": workspace_id,
        "filename": filename,
        "content_type": content_type,
        "bytes": len(content),
        "content": base64.b64encode(content).decode(),
        "created_at": utcnow(),
        "form_id": form_id,
        "data_since": data_since,
    }
    WorkflowFile._get_collection().replace_one({"_id": oid}, doc, upsert=True)
    return {"file_id": str(oid), "filename": filename, "content_type": content_type, "bytes": len(content)}


def stored_files(workspace_id: str) -> tuple[int, int]:
    """How many step files ``workspace_id`` keeps, and their bytes, in one read (at most WORKSPACE_FILES
    of them: ``save_file`` adds none past it)."""
    rows = WorkflowFile._get_collection().aggregate(
        [
            {"$match": {"workspace_id": workspace_id}},
            {"$group": {"_id": None, "n": {"$sum": 1}, "bytes": {"$sum": "$bytes"}}},
        ]
    )
    first: dict[str, Any] = next(iter(rows), {})
    return int(first.get("n") or 0), int(first.get("bytes") or 0)


def with_files(payload: dict[str, Any], workspace_id: str | None) -> dict[str, Any]:
    """``payload`` with ``files``: the files earlier steps' outputs name (``file_id``), of the run's
    workspace, by id: ``{"filename", "content_type", "bytes", "content_base64"}``."""
    ids = [
        oid
        for step in reversed(list((payload.get("steps") or {}).values()))
        if isinstance(step, dict)
        and (oid := parse_object_id(str((step.get("output") or {}).get("file_id") or ""))) is not None
    ][:FILES_PER_PAYLOAD]
    if not ids or not workspace_id:
        return payload
    found = WorkflowFile._get_collection().find({"_id": {"$in": ids}, "workspace_id": workspace_id})
    files = {
        str(f["_id"]): {
            "filename": f["filename"],
            "content_type": f["content_type"],
            "bytes": f["bytes"],
            "content_base64": f["content"],
        }
        for f in found
    }
    return {**payload, "files": files}


def expire_files(now: dt.datetime | None = None) -> int:
    """Delete the step files older than ``FILE_DAYS`` (they hold submissions' data); returns how many."""
    cutoff = (now or dt.datetime.now(dt.UTC)).replace(tzinfo=None) - dt.timedelta(days=FILE_DAYS)
    return WorkflowFile._get_collection().delete_many({"created_at": {"$lt": cutoff}}).deleted_count


def expire_form_files(form_id: str, before: dt.datetime) -> int:
    """Delete the form's files holding a submission received before ``before`` (its retention); how many."""
    match = {"form_id": form_id, "data_since": {"$lt": before.replace(tzinfo=None)}}
    return WorkflowFile._get_collection().delete_many(match).deleted_count


def erase_files(workspace_id: str, holds: Callable[[str], bool]) -> int:
    """Delete the workspace's files whose text ``holds`` an erased identifier; how many."""
    coll = WorkflowFile._get_collection()
    found = [
        f["_id"]
        for f in coll.find({"workspace_id": workspace_id}, {"content": 1})
        if holds(base64.b64decode(f.get("content") or "").decode("utf-8", "replace"))
    ]
    return coll.delete_many({"_id": {"$in": found}}).deleted_count if found else 0
