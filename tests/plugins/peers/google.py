"""A fake Google OAuth token endpoint and Sheets v4 API over HTTP, state in memory.

Just what gspread calls for this plugin: spreadsheet metadata, values get/update/append/batchUpdate,
and batchUpdate's deleteDimension and updateSheetProperties. Tokens are only issued for JWT assertions
signed by a registered service-account key; every API call checks the bearer's access to the sheet.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.plugins.peers.http import FakeServer, Reply, Request

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets"
# google-auth addresses the assertion to Google's token endpoint whatever the key's token_uri.
AUDIENCES = ("https://oauth2.googleapis.com/token",)
CELL = re.compile(r"^([A-Z]*)(\d*)$")


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def col_letters(index: int) -> str:
    """0 → A, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def col_index(letters: str) -> int:
    value = 0
    for ch in letters:
        value = value * 26 + ord(ch) - 64
    return value - 1


@dataclass
class Sheet:
    title: str
    sheet_id: int
    rows: list[list[Any]] = field(default_factory=list)
    row_count: int = 1000
    col_count: int = 26

    def properties(self, index: int) -> dict[str, Any]:
        return {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": index,
            "sheetType": "GRID",
            "gridProperties": {"rowCount": self.row_count, "columnCount": self.col_count},
        }

    def set(self, r: int, c: int, value: Any) -> None:
        while len(self.rows) <= r:
            self.rows.append([])
        row = self.rows[r]
        while len(row) <= c:
            row.append("")
        row[c] = value

    def get(self, r: int, c: int) -> Any:
        return self.rows[r][c] if r < len(self.rows) and c < len(self.rows[r]) else ""

    def last_row(self) -> int:
        """Index of the last row holding a value (-1 when empty)."""
        for r in range(len(self.rows) - 1, -1, -1):
            if any(v != "" for v in self.rows[r]):
                return r
        return -1

    def values(self) -> list[list[Any]]:
        """The grid as it would read back, without trailing empty cells and rows."""
        out = [list(row) for row in self.rows[: self.last_row() + 1]]
        for row in out:
            while row and row[-1] == "":
                row.pop()
        return out


@dataclass
class Spreadsheet:
    id: str
    title: str
    sheets: list[Sheet]
    editors: set[str] = field(default_factory=set)
    readers: set[str] = field(default_factory=set)

    def sheet(self, title: str | None) -> Sheet | None:
        if title is None:
            return self.sheets[0]
        return next((s for s in self.sheets if s.title == title), None)


def key_file(key: rsa.RSAPrivateKey, email: str, token_uri: str) -> str:
    """A service account's JSON key file, as Google's console downloads it."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "acme-project",
            "private_key_id": "k1",
            "private_key": pem,
            "client_email": email,
            "client_id": "1",
            "token_uri": token_uri,
        }
    )


class ApiError(Exception):
    def __init__(self, code: int, status: str, message: str):
        super().__init__(message)
        self.reply = Reply(code, {"error": {"code": code, "message": message, "status": status}})


class FakeGoogle:
    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPublicKey] = {}
        self.tokens: dict[str, str] = {}  # access token → service-account email
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.scripted: list[Reply] = []  # replies to the next Sheets API calls, before the normal ones
        self._tokens = itertools.count(1)
        self.server = FakeServer(self._handle)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def api_url(self) -> str:
        return self.server.url + "/v4/"

    def close(self) -> None:
        self.server.close()

    # -- set-up -----------------------------------------------------------------------------------------

    def service_account(
        self, email: str = "forms@acme-project.iam.gserviceaccount.com", register: bool = True
    ) -> str:
        """A JSON key file for ``email`` whose token_uri is this server (its key known to it if ``register``)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if register:
            self.keys[email] = key.public_key()
        return key_file(key, email, self.url + "/token")

    def spreadsheet(
        self,
        key: str,
        title: str = "Responses",
        sheets: tuple[str, ...] = ("Sheet1",),
        editors=(),
        readers=(),
    ) -> Spreadsheet:
        sheet = Spreadsheet(
            key, title, [Sheet(t, i) for i, t in enumerate(sheets)], set(editors), set(readers)
        )
        self.spreadsheets[key] = sheet
        return sheet

    def writes(self) -> list[Request]:
        return [r for r in self.server.requests if r.path.startswith("/v4/") and r.method != "GET"]

    # -- token endpoint ---------------------------------------------------------------------------------

    def _token(self, req: Request) -> Reply:
        form = req.form()
        if form.get("grant_type") != JWT_GRANT:
            return Reply(400, {"error": "unsupported_grant_type"})
        try:
            header, claims, signature = form.get("assertion", "").split(".")
            payload = json.loads(_b64decode(claims))
            key = self.keys[payload["iss"]]
            key.verify(
                _b64decode(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except (ValueError, KeyError, InvalidSignature):
            return Reply(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        if payload.get("aud") not in AUDIENCES or payload.get("exp", 0) < time.time():
            return Reply(
                400, {"error": "invalid_grant", "error_description": "Invalid JWT: bad audience or expired."}
            )
        if SHEETS_SCOPE not in payload.get("scope", "").split():
            return Reply(400, {"error": "invalid_scope", "error_description": "Missing scope."})
        token = f"ya29.fake-{next(self._tokens)}"
        self.tokens[token] = payload["iss"]
        return Reply(200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    # -- Sheets API -------------------------------------------------------------------------------------

    def _handle(self, req: Request) -> Reply:
        if req.path == "/token":
            return self._token(req)
        if not req.path.startswith("/v4/spreadsheets/"):
            return Reply(404, {"error": {"code": 404, "message": "Not found", "status": "NOT_FOUND"}})
        if self.scripted:
            return self.scripted.pop(0)
        try:
            return self._sheets(req)
        except ApiError as err:
            return err.reply

    def _sheets(self, req: Request) -> Reply:
        email = self.tokens.get(req.headers.get("authorization", "").removeprefix("Bearer "))
        if email is None:
            raise ApiError(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        rest = req.path.removeprefix("/v4/spreadsheets/")
        key, _, tail = rest.partition("/")
        key, _, action = key.partition(":")
        book = self.spreadsheets.get(key)
        if book is None:
            raise ApiError(404, "NOT_FOUND", "Requested entity was not found.")
        writing = req.method != "GET"
        allowed = book.editors if writing else book.editors | book.readers
        if email not in allowed:
            raise ApiError(403, "PERMISSION_DENIED", "The caller does not have permission")
        if not tail:
            if action == "batchUpdate":
                return self._batch_update(book, req.json())
            return Reply(200, self._metadata(book))
        if tail == "values:batchUpdate":
            body = req.json()
            for item in body.get("data", []):
                self._write(book, item["range"], item["values"], body.get("valueInputOption"))
            return Reply(200, {"spreadsheetId": book.id, "responses": [{} for _ in body.get("data", [])]})
        a1 = tail.removeprefix("values/")
        if a1.endswith(":append"):
            return self._append(book, a1.removesuffix(":append"), req)
        if req.method == "PUT":
            body = req.json()
            updated = self._write(book, a1, body["values"], req.query.get("valueInputOption"))
            return Reply(200, {"spreadsheetId": book.id, **updated})
        return Reply(200, self._read(book, a1, req.query.get("majorDimension", "ROWS")))

    @staticmethod
    def _metadata(book: Spreadsheet) -> dict[str, Any]:
        return {
            "spreadsheetId": book.id,
            "properties": {"title": book.title, "locale": "en_US", "timeZone": "Etc/GMT"},
            "sheets": [{"properties": s.properties(i)} for i, s in enumerate(book.sheets)],
        }

    @staticmethod
    def _range(book: Spreadsheet, a1: str) -> tuple[Sheet, int, int, int | None, int | None]:
        """(sheet, first row, first column, last row, last column), 0-based, None for unbounded."""
        name, bang, ref = a1.rpartition("!")
        if not bang:
            name, ref = (a1, "") if book.sheet(a1.strip("'").replace("''", "'")) else ("", a1)
        sheet = book.sheet(name.strip("'").replace("''", "'") if name else None)
        if sheet is None:
            raise ApiError(400, "INVALID_ARGUMENT", f"Unable to parse range: {a1}")
        start, _, end = ref.partition(":")
        m1, m2 = CELL.match(start), CELL.match(end or start)
        if not m1 or not m2:
            raise ApiError(400, "INVALID_ARGUMENT", f"Unable to parse range: {a1}")
        r1 = int(m1[2]) - 1 if m1[2] else 0
        c1 = col_index(m1[1]) if m1[1] else 0
        r2 = int(m2[2]) - 1 if m2[2] else None
        c2 = col_index(m2[1]) if m2[1] else None
        return sheet, r1, c1, r2, c2

    def _read(self, book: Spreadsheet, a1: str, dimension: str) -> dict[str, Any]:
        sheet, r1, c1, r2, c2 = self._range(book, a1)
        grid = sheet.values()
        r2 = len(grid) - 1 if r2 is None else min(r2, len(grid) - 1)
        width = max((len(r) for r in grid), default=0)
        c2 = width - 1 if c2 is None else min(c2, width - 1)
        rows = [[_formatted(sheet.get(r, c)) for c in range(c1, c2 + 1)] for r in range(r1, r2 + 1)]
        if dimension == "COLUMNS":
            rows = [list(col) for col in zip(*rows, strict=False)] if rows else []
        for row in rows:
            while row and row[-1] == "":
                row.pop()
        while rows and not rows[-1]:
            rows.pop()
        body: dict[str, Any] = {"range": a1, "majorDimension": dimension}
        if rows:
            body["values"] = rows
        return body

    def _write(
        self, book: Spreadsheet, a1: str, values: list[list[Any]], option: str | None
    ) -> dict[str, Any]:
        if option not in ("RAW", "USER_ENTERED"):
            raise ApiError(400, "INVALID_ARGUMENT", "'valueInputOption' is required but not specified")
        sheet, r1, c1, _, _ = self._range(book, a1)
        width = max((len(r) for r in values), default=0)
        if r1 + len(values) > sheet.row_count or c1 + width > sheet.col_count:
            last = f"{col_letters(c1 + width - 1)}{r1 + len(values)}"
            raise ApiError(
                400,
                "INVALID_ARGUMENT",
                f"Range ('{sheet.title}'!{last}) exceeds grid limits. "
                f"Max rows: {sheet.row_count}, max columns: {sheet.col_count}",
            )
        for dr, row in enumerate(values):
            for dc, value in enumerate(row):
                sheet.set(r1 + dr, c1 + dc, _entered(value, option))
        return {
            "updatedRange": f"'{sheet.title}'!{col_letters(c1)}{r1 + 1}",
            "updatedRows": len(values),
            "updatedColumns": width,
            "updatedCells": sum(len(r) for r in values),
        }

    def _append(self, book: Spreadsheet, a1: str, req: Request) -> Reply:
        sheet, _, c1, _, _ = self._range(book, a1)
        values = req.json()["values"]
        start = sheet.last_row() + 1
        if req.query.get("insertDataOption") == "INSERT_ROWS" or start + len(values) > sheet.row_count:
            sheet.row_count += len(values)
        sheet.col_count = max(sheet.col_count, c1 + max(len(r) for r in values))  # append widens
        updated = self._write(
            book, f"'{sheet.title}'!{col_letters(c1)}{start + 1}", values, req.query.get("valueInputOption")
        )
        return Reply(200, {"spreadsheetId": book.id, "tableRange": f"'{sheet.title}'!A1", "updates": updated})

    def _batch_update(self, book: Spreadsheet, body: dict[str, Any]) -> Reply:
        for request in body.get("requests", []):
            if "deleteDimension" in request:
                rng = request["deleteDimension"]["range"]
                sheet = self._by_id(book, rng["sheetId"])
                if rng["dimension"] == "ROWS":
                    del sheet.rows[rng["startIndex"] : rng["endIndex"]]
                    sheet.row_count -= rng["endIndex"] - rng["startIndex"]
                else:
                    for row in sheet.rows:
                        del row[rng["startIndex"] : rng["endIndex"]]
                    sheet.col_count -= rng["endIndex"] - rng["startIndex"]
            elif "updateSheetProperties" in request:
                props = request["updateSheetProperties"]["properties"]
                sheet = self._by_id(book, props["sheetId"])
                grid = props.get("gridProperties", {})
                sheet.row_count = grid.get("rowCount", sheet.row_count)
                sheet.col_count = grid.get("columnCount", sheet.col_count)
            else:
                raise ApiError(400, "INVALID_ARGUMENT", f"Unsupported request {sorted(request)}")
        return Reply(200, {"spreadsheetId": book.id, "replies": [{} for _ in body.get("requests", [])]})

    @staticmethod
    def _by_id(book: Spreadsheet, sheet_id: int) -> Sheet:
        sheet = next((s for s in book.sheets if s.sheet_id == sheet_id), None)
        if sheet is None:
            raise ApiError(400, "INVALID_ARGUMENT", f"No grid with id: {sheet_id}")
        return sheet


def _entered(value: Any, option: str) -> Any:
    """USER_ENTERED parses input like a person typing it: formulas are evaluated (here: to an error)."""
    if option == "USER_ENTERED" and isinstance(value, str) and value.startswith("="):
        return "#NAME?"
    return value


def _formatted(value: Any) -> Any:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return value
