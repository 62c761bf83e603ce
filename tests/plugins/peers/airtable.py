"""A fake Airtable Web API: table schema, records (list by formula, upsert on merge fields, delete), its errors."""

from __future__ import annotations

import itertools
import re
from typing import Any

from tests.plugins.peers.http import FakeServer, Reply, Request

TOKEN = "patFakeToken.0123456789abcdef"
BASE = "appFAKEBASE000001"
TABLE = "Responses"
FORMULA = re.compile(r"^\{(?P<field>[^}]+)\}='(?P<value>(?:[^'\\]|\\.)*)'$")


def _error(status: int, kind: str, message: str = "") -> Reply:
    return Reply(status, {"error": {"type": kind, "message": message}} if message else {"error": kind})


class FakeAirtable:
    """Base BASE has table Responses (tbl1) with the fields in ``columns``; ``records`` are its rows."""

    def __init__(self) -> None:
        self.columns = ["Name", "Submission ID", "Your name", "E-mail", "Message"]
        self.records: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self.server = FakeServer(self._handle)

    @property
    def api_url(self) -> str:
        return self.server.url

    def config(self, **extra: Any) -> dict[str, Any]:
        return {"token": TOKEN, "base_id": BASE, "table": TABLE, **extra}

    def script(self, *replies: Reply) -> None:
        self.server.script(*replies)

    def rows(self) -> list[dict[str, Any]]:
        return [r["fields"] for r in self.records.values()]

    def _handle(self, req: Request) -> Reply:
        if req.headers.get("authorization") != f"Bearer {TOKEN}":
            return _error(401, "AUTHENTICATION_REQUIRED", "Authentication required")
        parts = req.path.strip("/").split("/")
        if parts[:3] == ["v0", "meta", "bases"] and parts[4:] == ["tables"]:
            return (
                self._schema()
                if parts[3] == BASE
                else _error(
                    403,
                    "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
                    "Invalid permissions, or the requested model was not found.",
                )
            )
        if len(parts) < 3 or parts[0] != "v0" or parts[1] != BASE:
            return _error(
                403,
                "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
                "Invalid permissions, or the requested model was not found.",
            )
        if parts[2] not in (TABLE, "tbl1"):
            return _error(404, "TABLE_NOT_FOUND", f"Could not find table {parts[2]} in application {BASE}")
        if req.method == "GET" and len(parts) == 3:
            return self._list(req.query)
        if req.method == "PATCH" and len(parts) == 3:
            return self._upsert(req.json())
        if req.method == "DELETE" and len(parts) == 4:
            if self.records.pop(parts[3], None) is None:
                return _error(404, "NOT_FOUND")
            return Reply(200, {"id": parts[3], "deleted": True})
        return _error(404, "NOT_FOUND")

    def _schema(self) -> Reply:
        fields = [
            {"id": f"fld{i}", "name": name, "type": "singleLineText"} for i, name in enumerate(self.columns)
        ]
        table = {
            "id": "tbl1",
            "name": TABLE,
            "primaryFieldId": "fld0",
            "fields": fields,
            "views": [{"id": "viw1", "name": "Grid view", "type": "grid"}],
        }
        return Reply(200, {"tables": [table]})

    def _list(self, query: dict[str, str]) -> Reply:
        found = list(self.records.values())
        if "filterByFormula" in query:
            m = FORMULA.match(query["filterByFormula"])
            if not m:
                return _error(
                    422, "INVALID_FILTER_BY_FORMULA", "The formula for filtering records is invalid"
                )
            value = re.sub(r"\\(.)", r"\1", m["value"])
            found = [r for r in found if r["fields"].get(m["field"]) == value]
        return Reply(200, {"records": found[: int(query.get("maxRecords", 100))]})

    def _upsert(self, body: dict[str, Any]) -> Reply:
        merge_on = (body.get("performUpsert") or {}).get("fieldsToMergeOn")
        if not merge_on:
            return _error(422, "INVALID_REQUEST_UNKNOWN", "This fake only implements upserts")
        created, updated, out = [], [], []
        for record in body["records"]:
            unknown = [name for name in record["fields"] if name not in self.columns]
            if unknown:
                return _error(422, "UNKNOWN_FIELD_NAME", f'Unknown field name: "{unknown[0]}"')
            key = [record["fields"].get(name) for name in merge_on]
            matches = [r for r in self.records.values() if [r["fields"].get(n) for n in merge_on] == key]
            if len(matches) > 1:
                return _error(422, "INVALID_RECORDS", "More than one record matches the merge fields")
            if matches:
                matches[0]["fields"].update(record["fields"])
                updated.append(matches[0]["id"])
                out.append(matches[0])
            else:
                new = {
                    "id": f"rec{next(self._ids):014d}",
                    "createdTime": "2026-05-01T10:00:00.000Z",
                    "fields": dict(record["fields"]),
                }
                self.records[new["id"]] = new
                created.append(new["id"])
                out.append(new)
        return Reply(200, {"records": out, "createdRecords": created, "updatedRecords": updated})

    def close(self) -> None:
        self.server.close()
