"""Google Sheets: one row per submission, appended, updated in place when edited, removed when deleted."""

from __future__ import annotations

from typing import Any

from gspread import Worksheet

from app.contract import ExecutionContext, ExecutionResult, Plugin, PluginError, RateLimit, TestResult
from plugins.google_sheets.client import sheets_client
from plugins.google_sheets.config import SheetsConfig, service_account_info, spreadsheet_key
from plugins.google_sheets.errors import google_errors
from plugins.google_sheets.rows import SUBMISSION_ID, SheetRows, columns, row_key

VERSION = "1.0.0"
SEND_TIMEOUT = 20.0
TEST_TIMEOUT = 15.0


class GoogleSheetsPlugin(Plugin):
    id = "google_sheets"
    name = "Google Sheets"
    version = VERSION
    description = "Keep one row per submission in a Google spreadsheet (added, edited and deleted rows)."
    category = "spreadsheet"
    icon = "table"
    triggers = ("form.submitted", "response.edited", "response.deleted")
    config_schema = SheetsConfig
    settings_keys = ("GOOGLE_SHEETS_API_URL",)
    rate_limit = RateLimit(calls=60, period=60.0)  # Google: about 60 writes a minute per spreadsheet

    def rate_limit_key(self, config: dict[str, Any]) -> str | None:
        return spreadsheet_key(config["spreadsheet"])

    def _open(self, config: dict[str, Any], timeout: float) -> tuple[Worksheet, str]:
        """The configured worksheet, and the service account's email (for messages)."""
        info = service_account_info(config["service_account_json"])
        key = spreadsheet_key(config["spreadsheet"])
        with google_errors(info["client_email"], key):
            spreadsheet = sheets_client(info, self.settings, timeout).open_by_key(key)
            title = config.get("worksheet")
            ws = spreadsheet.worksheet(title) if title else spreadsheet.get_worksheet(0)
        return ws, info["client_email"]

    def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        config = ctx.config
        ws, email = self._open(config, min(SEND_TIMEOUT, ctx.time_left))
        submission_id = row_key(ctx.payload, ctx.idempotency_key)
        values = columns(config, ctx.payload, submission_id)
        where = f"{ws.spreadsheet.title} › {ws.title}"
        with google_errors(email, ws.spreadsheet_id):
            rows = SheetRows(ws)
            if ctx.event == "response.deleted":
                number = self._find(rows, submission_id, ctx.event)
                if number is None:
                    return ExecutionResult(
                        f"No row of submission {submission_id} in {where}; nothing to delete"
                    )
                rows.delete(number)
                return ExecutionResult(f"Deleted row {number} of {where}", response={"row": number})
            rows.ensure_headers(list(values))
            # A retry after a crash, or an edit: the submission already has its row, update it in place.
            number = self._find(rows, submission_id, ctx.event)
            if number is None:
                updates = rows.append(values)
                return ExecutionResult(
                    f"Appended a row to {where}",
                    request={"values": values},
                    response=updates,
                    output={"spreadsheet_id": ws.spreadsheet_id, "range": updates.get("updatedRange")},
                )
            rows.update(number, values)
            return ExecutionResult(
                f"Updated row {number} of {where}",
                request={"values": values},
                response={"row": number},
                output={"spreadsheet_id": ws.spreadsheet_id, "row": number},
            )

    def preview(self, ctx: ExecutionContext) -> dict[str, Any]:
        worksheet = ctx.config.get("worksheet") or "the first worksheet"
        return {
            "spreadsheet": ctx.config.get("spreadsheet"),
            "worksheet": worksheet,
            "row": columns(ctx.config, ctx.payload),
        }

    def _find(self, rows: SheetRows, submission_id: str, event: str) -> int | None:
        if SUBMISSION_ID in rows.headers or event not in ("response.edited", "response.deleted"):
            return rows.find(submission_id)
        raise PluginError(
            f"Cannot find the submission's row for {event}: the worksheet has no {SUBMISSION_ID!r} column. "
            "Turn include_metadata on to keep edits and deletions in step.",
            permanent=True,
        )

    def test_connection(self, config: dict[str, Any]) -> TestResult:
        try:
            ws, email = self._open(config, TEST_TIMEOUT)
        except (PluginError, ValueError) as err:
            return TestResult(False, getattr(err, "message", str(err)))
        details = {"spreadsheet": ws.spreadsheet.title, "worksheet": ws.title, "service_account": email}
        return TestResult(
            True,
            f"Opened {ws.spreadsheet.title!r}, worksheet {ws.title!r}, as {email}. Nothing was written.",
            details,
        )
