"""One row per submission: headers kept up to date, rows found by the Submission ID column.

Values are entered RAW: text such as ``=IMPORTXML(...)`` stays text and is never evaluated (also the
rendered values of extra columns). A workflow run without a submission (a schedule, an inbound call, by
hand) keys its row by the step's idempotency key, so a repeated delivery finds its row.
"""

from __future__ import annotations

import json
from typing import Any

from gspread import Worksheet
from gspread.utils import InsertDataOption, ValueInputOption, rowcol_to_a1

from app.contract import select_fields
from app.templating import render, template_context
from plugins.google_sheets.config import SUBMISSION_ID, SUBMITTED_AT

__all__ = ["SUBMISSION_ID", "SUBMITTED_AT", "SheetRows", "cell", "columns", "row_key"]


def cell(value: Any) -> Any:
    """A submitted value as a cell: numbers and booleans as such, lists joined, the rest as text."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return ", ".join(str(cell(v)) for v in value)
    return json.dumps(value, ensure_ascii=False, default=str)


def row_key(payload: dict[str, Any], idempotency_key: str) -> str:
    """What the row is found by: the submission's id, or (a workflow run without one) the step's key."""
    submission_id = (payload.get("submission") or {}).get("id")
    if submission_id or "steps" not in payload:
        return submission_id or ""
    return idempotency_key


def columns(config: dict[str, Any], payload: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    """Header → value of the row an event writes, in column order (metadata, fields, extra columns).
    ``key`` is the Submission ID cell (default: the submission's id). An extra column whose header is a
    field's takes its place. Raises PluginError when an extra column's template fails."""
    row: dict[str, Any] = {}
    if config.get("include_metadata", True):
        submission = payload.get("submission") or {}
        row[SUBMISSION_ID] = (submission.get("id") or "") if key is None else key
        row[SUBMITTED_AT] = submission.get("created_at") or ""
    selected = select_fields(payload, config.get("columns"), label_key="header")
    for f in selected:
        header = f.label if f.label not in row else f"{f.label} ({f.name})"
        row[header] = cell(f.value)
    extra = config.get("extra_columns") or []
    context = template_context(payload, selected) if extra else {}
    for column in extra:
        row[column["header"]] = cell(render(column["value"], context, "text", f"{column['header']!r} column"))
    return row


class SheetRows:
    """The rows of one worksheet, addressed by header and by submission id."""

    def __init__(self, ws: Worksheet):
        self.ws = ws
        self.headers: list[str] = [str(h) for h in ws.row_values(1)]

    def ensure_headers(self, wanted: list[str]) -> list[str]:
        """Write the headers that are missing after the existing ones; returns the header row."""
        missing = [h for h in wanted if h not in self.headers]
        if missing:
            needed = len(self.headers) + len(missing)
            if needed > self.ws.col_count:
                self.ws.add_cols(needed - self.ws.col_count)
            self.ws.update([missing], rowcol_to_a1(1, len(self.headers) + 1), raw=True)
            self.headers += missing
        return self.headers

    def find(self, submission_id: str) -> int | None:
        """The row number holding ``submission_id`` in the Submission ID column, if any."""
        if not submission_id or SUBMISSION_ID not in self.headers:
            return None
        ids = self.ws.col_values(self.headers.index(SUBMISSION_ID) + 1)
        for number, value in enumerate(ids[1:], start=2):
            if value == submission_id:
                return number
        return None

    def append(self, values: dict[str, Any]) -> dict[str, Any]:
        row = [""] * len(self.headers)
        for header, value in values.items():
            row[self.headers.index(header)] = value
        result = self.ws.append_row(
            row,
            value_input_option=ValueInputOption.raw,
            insert_data_option=InsertDataOption.insert_rows,
            table_range="A1",
        )
        return (result or {}).get("updates", {})

    def update(self, number: int, values: dict[str, Any]) -> None:
        """Rewrite this row's cells of our columns only (columns added by people are left alone)."""
        self.ws.batch_update(
            [
                {"range": rowcol_to_a1(number, self.headers.index(h) + 1), "values": [[v]]}
                for h, v in values.items()
            ],
            raw=True,
        )

    def delete(self, number: int) -> None:
        self.ws.delete_rows(number)
