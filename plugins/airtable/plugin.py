"""Airtable: one record per submission, upserted by its Submission ID, updated when edited, removed when deleted."""

from __future__ import annotations

from typing import Any

from pyairtable import Table
from pyairtable.formulas import match

from app.contract import ExecutionContext, ExecutionResult, Plugin, PluginError, RateLimit, TestResult
from plugins.airtable.client import airtable_errors, airtable_table
from plugins.airtable.config import SUBMISSION_ID, AirtableConfig, record_fields

VERSION = "1.0.0"
SEND_TIMEOUT = 20.0
TEST_TIMEOUT = 15.0


class AirtablePlugin(Plugin):
    id = "airtable"
    name = "Airtable"
    version = VERSION
    description = "Keep one record per submission in an Airtable table (added, edited and deleted records)."
    category = "spreadsheet"
    settings_keys = ("AIRTABLE_API_URL",)
    icon = "airtable"
    triggers = ("form.submitted", "response.edited", "response.deleted")
    config_schema = AirtableConfig
    rate_limit = RateLimit(calls=5, period=1.0)  # Airtable: 5 requests per second per base

    def rate_limit_key(self, config: dict[str, Any]) -> str | None:
        return config["base_id"]

    def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        config = ctx.config
        table = airtable_table(config, self.settings, min(SEND_TIMEOUT, ctx.time_left))
        submission_id = (ctx.payload.get("submission") or {}).get("id")
        if not submission_id:
            raise PluginError("Airtable keeps submissions; this event has none.", permanent=True)
        with airtable_errors(config):
            if ctx.event == "response.deleted":
                return self._delete(table, submission_id)
            values = record_fields(config, ctx.payload)
            # Upsert on the Submission ID: a retry, a resend or an edit updates the record, never adds one.
            result = table.batch_upsert(
                [{"fields": values}], key_fields=[SUBMISSION_ID], typecast=config.get("typecast", True)
            )
        record_id = result["records"][0]["id"]
        verb = "Created" if result.get("createdRecords") else "Updated"
        return ExecutionResult(
            f"{verb} record {record_id} in {config['table']}",
            {"fields": values},
            {"record_id": record_id, "created": bool(result.get("createdRecords"))},
            {"id": record_id, "record_id": record_id, "created": bool(result.get("createdRecords"))},
        )

    def _delete(self, table: Table, submission_id: str) -> ExecutionResult:
        found = table.first(formula=match({SUBMISSION_ID: submission_id}))
        if found is None:
            return ExecutionResult(f"No record of submission {submission_id}; nothing to delete")
        table.delete(found["id"])
        return ExecutionResult(f"Deleted record {found['id']}", response={"record_id": found["id"]})

    def test_connection(self, config: dict[str, Any]) -> TestResult:
        """Reads the table's schema: it exists, the token may read it, and every column is there."""
        table = airtable_table(config, self.settings, TEST_TIMEOUT)
        try:
            with airtable_errors(config):
                schema = table.schema()
        except PluginError as err:
            return TestResult(False, err.message, {"status_code": err.response.get("status_code")})
        except KeyError:
            return TestResult(False, f"The base {config['base_id']} has no table {config['table']!r}.")
        existing = {f.name for f in schema.fields}
        wanted = [SUBMISSION_ID] + [c.get("column") or c["field"] for c in config.get("columns") or []]
        missing = [name for name in wanted if name not in existing]
        details = {"table": schema.name, "fields": sorted(existing)}
        if missing:
            return TestResult(
                False,
                f"The table {schema.name!r} has no field {', '.join(map(repr, missing))}. Add "
                f"{'it' if len(missing) == 1 else 'them'} in Airtable ({SUBMISSION_ID!r} as single line text).",
                details,
            )
        return TestResult(True, f"The table {schema.name!r} is ready. Nothing was written.", details)
