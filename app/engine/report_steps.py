"""The scheduled-report host steps (engine.host_steps): the submissions of a form in a time window, and a
CSV file of them that a later step attaches (the e-mail step's ``attachments``).

``submissions_window`` turns a window name ("yesterday") into times, in a time zone (the schedule's, by
default), as of the run's fire time; ``submissions_csv`` writes the submissions of a form between two times
with the export's row builder (app.admin.export: the same columns and formula neutralising as a download),
at most ``MAX_ROWS`` rows and ``MAX_FILE_BYTES`` bytes, within the step's deadline.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import Schema, ValidationError, fields, validate

from app.admin.export import csv_rows, times_in
from app.contract import ExecutionContext, ExecutionResult, PluginError
from app.engine.host_steps import HostStep, form_in, host_step, save_file, workspace_of
from app.models import Submission, as_datetime, isoformat
from app.models.search_terms import live_between, live_ids, unindexed

WINDOWS = ("yesterday", "today", "last_24_hours", "last_7_days", "last_week")
MAX_ROWS = 50_000
COUNT_PAGE = 5000  # submission ids a read, for a window's count
MAX_FILE_BYTES = 5 * 1024 * 1024
FILENAME = re.compile(r"[^A-Za-z0-9._ -]+")


def zone_named(name: str) -> ZoneInfo | None:
    """The IANA time zone ``name``; None when there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _zone(name: str) -> None:
    if zone_named(name) is None:
        raise ValidationError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin).")


def window_bounds(window: str, at: dt.datetime, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The window ``window`` as of ``at`` (aware), as aware UTC times [since, until). Calendar windows
    (yesterday, today, last_week: Monday to Monday) follow ``zone``'s midnights."""
    local = at.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)

    def day(offset: int) -> dt.datetime:  # a midnight in zone, whatever the DST change between
        d = midnight.date() + dt.timedelta(days=offset)
        return dt.datetime(d.year, d.month, d.day, tzinfo=zone)

    if window == "yesterday":
        since, until = day(-1), day(0)
    elif window == "today":
        since, until = day(0), day(1)
    elif window == "last_week":
        monday = -local.weekday()
        since, until = day(monday - 7), day(monday)
    else:
        hours = 24 if window == "last_24_hours" else 7 * 24
        since, until = at - dt.timedelta(hours=hours), at
    return since.astimezone(dt.UTC), until.astimezone(dt.UTC)


def _reference_time(payload: dict[str, Any]) -> dt.datetime:
    """When the run was triggered: a schedule's fire time, else the event's time, else now."""
    data = payload.get("data") or {}
    for value in (data.get("fire_time"), payload.get("occurred_at")):
        found = as_datetime(value) if isinstance(value, str) else None
        if found is not None:
            return found.replace(tzinfo=dt.UTC)
    return dt.datetime.now(dt.UTC)


def _zone_of(config: dict[str, Any], payload: dict[str, Any]) -> ZoneInfo:
    name = config.get("timezone") or (payload.get("data") or {}).get("timezone") or "UTC"
    zone = zone_named(str(name))
    if zone is None:
        raise PluginError(f"{name!r} is not an IANA time zone.", permanent=True)
    return zone


def _form(config: dict[str, Any], workspace_id: str) -> dict[str, Any]:
    form = form_in(config.get("form_id"), workspace_id)
    if form is None:
        raise PluginError("No form of this workflow's workspace has the id in form_id.", permanent=True)
    return form


def _window_query(form: dict[str, Any], since: dt.datetime, until: dt.datetime) -> tuple[dict[str, Any], str]:
    """The form's live submissions received in [since, until), and the field that orders them by time: along
    its (form_id, deleted, sort_key) index (by ``created_at``, every submission of the form is read: a big
    form's step held the store for seconds), unless some were stored before the search index."""
    utc = _utc(since, until)
    if unindexed(Submission._get_collection(), str(form["_id"])):
        times = {"$gte": utc[0], "$lt": utc[1]}
        return {"form_id": str(form["_id"]), "deleted": {"$ne": True}, "created_at": times}, "created_at"
    return live_between(str(form["_id"]), utc[0], utc[1]), "sort_key"


def _count(form: dict[str, Any], since: dt.datetime, until: dt.datetime) -> int:
    """How many live submissions the form received in [since, until): their ids read a page at a time along
    its index, unless some were stored before the search index (then counted by time, a walk)."""
    coll, utc = Submission._get_collection(), _utc(since, until)
    if unindexed(coll, str(form["_id"])):
        return coll.count_documents(_window_query(form, since, until)[0])
    return sum(1 for _ in live_ids(coll, str(form["_id"]), utc[0], utc[1], COUNT_PAGE))


def _utc(*moments: dt.datetime) -> list[dt.datetime]:
    return [moment.astimezone(dt.UTC).replace(tzinfo=None) for moment in moments]


def _timezone_field() -> fields.String:
    return fields.String(
        load_default=None,
        allow_none=True,
        validate=_zone,
        metadata={"description": "IANA time zone; empty: the schedule's, else UTC"},
    )


class WindowConfig(Schema):
    form_id = fields.String(required=True, metadata={"description": "A form of this workspace"})
    window = fields.String(
        load_default="yesterday",
        validate=validate.OneOf(WINDOWS),
        metadata={
            "description": "yesterday, today, last_24_hours, last_7_days or last_week (Monday to Monday)"
        },
    )
    timezone = _timezone_field()


@host_step
class SubmissionsWindow(HostStep):
    id = "submissions_window"
    name = "Submissions in a time window"
    description = "Counts a form's submissions in a window (yesterday, last 7 days...) as of the run's time."
    category = "other"
    icon = "table"
    config_schema = WindowConfig
    form_fields = ("form_id",)
    output_keys = ("count", "date", "since", "until", "form_id", "form_name", "timezone", "window")

    def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        form = _form(ctx.config, workspace_of(ctx))
        zone = _zone_of(ctx.config, ctx.payload)
        since, until = window_bounds(ctx.config["window"], _reference_time(ctx.payload), zone)
        count = _count(form, since, until)
        output = {
            "form_id": str(form["_id"]),
            "form_name": form.get("name"),
            "window": ctx.config["window"],
            "timezone": zone.key,
            "since": isoformat(since.replace(tzinfo=None)),
            "until": isoformat(until.replace(tzinfo=None)),
            "date": since.astimezone(zone).date().isoformat(),
            "count": count,
        }
        return ExecutionResult(summary=f"{count} submissions of {form.get('name')!r}", output=output)

    def preview(self, ctx: ExecutionContext) -> dict[str, Any] | None:
        zone = _zone_of(ctx.config, ctx.payload)
        since, until = window_bounds(ctx.config["window"], _reference_time(ctx.payload), zone)
        return {
            "since": isoformat(since.replace(tzinfo=None)),
            "until": isoformat(until.replace(tzinfo=None)),
        }


class CsvConfig(Schema):
    form_id = fields.String(required=True, metadata={"description": "A form of this workspace"})
    since = fields.String(
        required=True, metadata={"description": "From (ISO time), e.g. {{ steps.window.output.since }}"}
    )
    until = fields.String(
        required=True, metadata={"description": "Until, excluded, e.g. {{ steps.window.output.until }}"}
    )
    filename = fields.String(
        load_default="submissions.csv",
        validate=validate.Length(1, 120),
        metadata={"description": "The file's name, e.g. leads-{{ steps.window.output.date }}.csv"},
    )
    timezone = _timezone_field()
    max_rows = fields.Integer(
        load_default=MAX_ROWS,
        validate=validate.Range(1, MAX_ROWS),
        metadata={"description": f"More submissions than this fail the step (at most {MAX_ROWS})"},
    )


def _time(config: dict[str, Any], name: str) -> dt.datetime:
    found = as_datetime(config.get(name)) if isinstance(config.get(name), str) else None
    if found is None:
        raise PluginError(f"{name} is not an ISO time: {config.get(name)!r}.", permanent=True)
    return found.replace(tzinfo=dt.UTC)


@host_step
class SubmissionsCsv(HostStep):
    id = "submissions_csv"
    name = "CSV of submissions"
    description = "A CSV file of a form's submissions between two times, for a later step to attach."
    category = "other"
    icon = "table"
    config_schema = CsvConfig
    form_fields = ("form_id",)
    output_keys = ("file_id", "filename", "rows", "bytes", "content_type")

    def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        workspace_id = workspace_of(ctx)  # (one read of the step's job)
        form = _form(ctx.config, workspace_id)
        since, until = _time(ctx.config, "since"), _time(ctx.config, "until")
        zone = _zone_of(ctx.config, ctx.payload)
        limit = int(ctx.config.get("max_rows") or MAX_ROWS)
        query, by_time = _window_query(form, since, until)
        docs = Submission._get_collection().find(query).sort(by_time, 1).limit(limit + 1)
        fields_of = [f["name"] for f in form.get("fields") or []]
        counted = Tally()
        chunks: list[bytes] = []
        size = 0
        names = {str(form["_id"]): form.get("name") or ""}
        for chunk in csv_rows(_counted(docs, limit, counted), fields_of, names, times_in(zone), bom=True):
            data = chunk.encode()
            size += len(data)
            if size > MAX_FILE_BYTES:
                raise PluginError(
                    f"The CSV is larger than {MAX_FILE_BYTES // 1024} KiB; narrow the window.", permanent=True
                )
            if time.monotonic() > ctx.deadline:
                raise PluginError("The CSV took longer than the step's deadline.")
            chunks.append(data)
        filename = FILENAME.sub("_", ctx.config.get("filename") or "submissions.csv")[:120]
        content = b"".join(chunks)
        ref = save_file(
            ctx.job_id, workspace_id, filename, "text/csv", content, str(form["_id"]), counted.oldest
        )
        return ExecutionResult(
            summary=f"{filename}: {counted.rows} rows, {size} bytes", output={**ref, "rows": counted.rows}
        )

    def preview(self, ctx: ExecutionContext) -> dict[str, Any] | None:
        return {key: ctx.config.get(key) for key in ("filename", "since", "until")}


@dataclass
class Tally:
    """The rows a file got, and when the oldest of their submissions was received."""

    rows: int = 0
    oldest: dt.datetime | None = None


def _counted(docs: Iterable[dict[str, Any]], limit: int, counted: Tally) -> Iterator[dict[str, Any]]:
    """``docs``, counted into ``counted``; one past ``limit`` fails the step."""
    for doc in docs:
        if counted.rows >= limit:
            raise PluginError(f"More than {limit} submissions are in the window (max_rows).", permanent=True)
        counted.rows += 1
        received = as_datetime(doc.get("created_at"))
        if received is not None and (counted.oldest is None or received < counted.oldest):
            counted.oldest = received
        yield doc
