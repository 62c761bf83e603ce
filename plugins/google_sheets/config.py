"""The Google Sheets integration's settings: a service-account key, a spreadsheet, a worksheet, columns
(the form's fields, and extra columns whose values are templates)."""

from __future__ import annotations

import json
import re
from typing import Any

from google.oauth2 import service_account
from gspread.exceptions import NoValidUrlKeyFound
from gspread.utils import extract_id_from_url
from marshmallow import Schema, ValidationError, fields, validate, validates

from app.contract import NoCredentialsInUrl, Secret, Template, selection_field

KEY = re.compile(r"^[A-Za-z0-9_-]{10,}$")
REQUIRED_KEYS = ("client_email", "private_key", "token_uri")
MAX_EXTRA_COLUMNS = 50
SUBMISSION_ID = "Submission ID"
SUBMITTED_AT = "Submitted at"


def service_account_info(text: str) -> dict[str, Any]:
    """The parsed key file; ValueError saying what is wrong with it."""
    try:
        info = json.loads(text)
    except (TypeError, ValueError):
        raise ValueError("Paste the service account's JSON key file (it is not valid JSON).") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ValueError('This is not a service account key: its "type" must be "service_account".')
    missing = [k for k in REQUIRED_KEYS if not info.get(k)]
    if missing:
        raise ValueError(f"The key file lacks {', '.join(missing)}.")
    if not str(info["token_uri"]).startswith(("https://", "http://")):
        raise ValueError("The key file's token_uri is not a URL.")
    return info


def spreadsheet_key(value: str) -> str:
    """The spreadsheet key of a URL (docs.google.com/spreadsheets/d/<key>/...) or of a bare key."""
    value = value.strip()
    if "/" in value:
        try:
            return extract_id_from_url(value)
        except NoValidUrlKeyFound:
            raise ValueError("This URL does not point to a spreadsheet (…/spreadsheets/d/<key>/…).") from None
    if not KEY.match(value):
        raise ValueError("Give the spreadsheet's URL or its key.")
    return value


class ExtraColumn(Schema):
    header = fields.String(required=True, validate=validate.Length(min=1, max=200))
    value = Template(widget="text", required=True, metadata={"description": "Template of the cell"})


def _distinct_headers(value: list[dict[str, Any]]) -> None:
    headers = [column["header"] for column in value]
    twice = sorted({h for h in headers if headers.count(h) > 1 or h in (SUBMISSION_ID, SUBMITTED_AT)})
    if twice:
        raise ValidationError(f"Headers used twice or kept for metadata: {', '.join(twice)}.")


class SheetsConfig(Schema):
    service_account_json = Secret(
        # its token_uri is inside it; the spreadsheet and worksheet are what it reads and writes
        bound_to=("spreadsheet", "worksheet"),
        required=True,
        metadata={"description": "The service account's JSON key file", "x-widget": "textarea"},
    )
    spreadsheet = fields.String(
        required=True,
        validate=NoCredentialsInUrl("The service account's key is the only credential Sheets needs."),
        metadata={"description": "Spreadsheet URL or key"},
    )
    worksheet = fields.String(
        load_default=None, allow_none=True, metadata={"description": "Worksheet title; empty for the first"}
    )
    columns = selection_field(
        "header",
        metadata={"description": "Columns as {field, header}; empty: every form field, new ones appended"},
    )
    extra_columns = fields.List(
        fields.Nested(ExtraColumn),
        load_default=list,
        validate=[validate.Length(max=MAX_EXTRA_COLUMNS), _distinct_headers],
        metadata={
            "description": "More columns as {header, value}: value is a template rendered for each row "
            "(e.g. {{ steps.contact.output.id }} in a workflow), entered as text; after the form's columns",
            "x-template": "text",  # rendered by the plugin, once, with the workflow's steps in its context
            "x-section": "Fields sent",
        },
    )
    include_metadata = fields.Boolean(
        load_default=True,
        metadata={
            "description": "Add Submission ID and Submitted at columns (needed for edits and deletions)"
        },
    )

    @validates("service_account_json")
    def _key(self, value: str, **_: Any) -> None:
        try:
            info = service_account_info(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        try:
            service_account.Credentials.from_service_account_info(info)
        except ValueError as exc:
            raise ValidationError(f"The key file's private key cannot be read ({exc}).") from None

    @validates("spreadsheet")
    def _spreadsheet(self, value: str, **_: Any) -> None:
        try:
            spreadsheet_key(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
