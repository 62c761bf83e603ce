"""Fixtures of the workflow tests: the protocol fakes the steps talk to, and a workflow builder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Api
from tests.plugins.conftest import google, live_api_with  # noqa: F401  (fixtures)
from tests.plugins.peers.google import FakeGoogle
from tests.plugins.peers.hubspot import FakeHubSpot
from tests.plugins.peers.slack import TOKEN as SLACK_TOKEN
from tests.plugins.peers.slack import FakeSlack
from tests.support.wait import wait_until

FIELDS = [{"name": "email", "type": "email"}, {"name": "name", "type": "text"}]


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    fake = FakeHubSpot()
    yield fake
    fake.close()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


def three_steps(hubspot: FakeHubSpot | None, sink_url: str) -> list[dict[str, Any]]:
    """HubSpot upsert → Slack message quoting the contact id → webhook carrying it in its URL."""
    return [
        {"name": "contact", "plugin_id": "hubspot", "config": hubspot.config() if hubspot else {}},
        {
            "name": "notify",
            "plugin_id": "slack",
            "config": {
                "token": SLACK_TOKEN,
                "channel": "#forms",
                "text": "New lead {{ data.email }}: contact {{ steps.contact.output.id }}",
                "blocks": False,
            },
        },
        {
            "name": "record",
            "plugin_id": "webhook",
            "config": {"url": sink_url + "/leads?contact={{ steps.contact.output.id }}"},
        },
    ]


SHEET_KEY = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
SHEETS_EMAIL = "forms@acme-project.iam.gserviceaccount.com"


def sheets_step(fake: FakeGoogle) -> dict[str, Any]:
    """A Sheets step adding a row with the contact id of the HubSpot step (the spreadsheet is SHEET_KEY)."""
    fake.spreadsheet(SHEET_KEY, editors=[SHEETS_EMAIL])
    return {
        "name": "record",
        "plugin_id": "google_sheets",
        "config": {
            "service_account_json": fake.service_account(SHEETS_EMAIL),
            "spreadsheet": SHEET_KEY,
            "columns": [{"field": "email", "header": "Email"}],
            "extra_columns": [{"header": "Contact", "value": "{{ steps.contact.output.id }}"}],
        },
    }


def create_workflow(api: Api, trigger: dict[str, Any], steps: list[dict[str, Any]], **extra: Any) -> dict:
    resp = api.post(
        "/api/workflows",
        {"name": "Lead flow", "status": "active", "trigger": trigger, "steps": steps, **extra},
    )
    assert resp.status_code == 201, resp.json
    return resp.json


def finished_run(api: Api, run_id: str, timeout: float = 20.0) -> dict:
    return wait_until(
        lambda: (run := api.get(f"/api/workflow-runs/{run_id}").json)["status"] != "running" and run,
        timeout=timeout,
        what=f"run {run_id} to finish",
    )


def runs_of(api: Api, workflow_id: str) -> list[dict]:
    return api.get(f"/api/workflows/{workflow_id}/runs").json["items"]
