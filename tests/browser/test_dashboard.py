"""The dashboard over a week of deliveries (also the source of the README screenshots:
``FH_DOCS_SCREENSHOTS=1 pytest tests/browser/test_dashboard.py`` writes docs/screenshots/)."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from bson import ObjectId
from playwright.sync_api import expect

from app.admin.stats import window_start
from app.engine import rollup_rebuild
from app.models import PluginJob
from tests.browser.conftest import assert_accessible, login, shot
from tests.support.sink import Reply
from tests.support.wait import wait_until

pytestmark = pytest.mark.browser

# days ago -> (completed, failed) jobs of the webhook on that day
HISTORY = {6: (12, 0), 5: (9, 1), 4: (14, 0), 3: (7, 3), 2: (11, 1), 1: (13, 0)}


def _seed_history(world, form_id: str, config_id: str) -> list[tuple[float, str]]:
    """Jobs of past days as the engine leaves them; ids carry their creation time. Returns (time, status)."""
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    docs, seeded = [], []
    for days_ago, (completed, failed) in HISTORY.items():
        noon = (today - dt.timedelta(days=days_ago) + dt.timedelta(hours=12)).timestamp()
        for i, status in enumerate(["completed"] * completed + ["failed"] * failed):
            created = noon + i * 60
            oid = ObjectId(int(created).to_bytes(4, "big") + os.urandom(8))
            seeded.append((created, status))
            docs.append(
                {
                    "_id": oid,
                    "config_id": config_id,
                    "form_id": form_id,
                    "workspace_id": world.workspace_id,
                    "submission_id": None,
                    "plugin_id": "webhook",
                    "event": "form.submitted",
                    "status": status,
                    "scheduled_for": created,
                    "attempts": 1,
                    "max_attempts": 5,
                    "last_error": None if status == "completed" else "HTTP 500 Internal Server Error",
                    "payload": {},
                    "dispatch_key": f"history:{oid}",
                    "idempotency_key": f"msg_{oid}",
                    "created_at": dt.datetime.fromtimestamp(created, dt.UTC).replace(tzinfo=None),
                }
            )
    with world.server.app.app_context():
        PluginJob._get_collection().insert_many(docs)
        rollup_rebuild.rebuild()  # stored behind the engine's back, like jobs from before the rollups
    return seeded


def test_dashboard_shows_status_counts_a_week_of_success_rates_and_failing_integrations(page, world, sink):
    sink.responder = lambda req: (
        Reply(400, b'{"error": "unknown field: message"}') if req.path == "/crm" else Reply(200, b"ok")
    )
    contact = world.create_form(
        "Contact us",
        [
            {"name": "name", "label": "Your name", "type": "text", "required": True},
            {"name": "email", "label": "Email", "type": "email", "required": True},
            {"name": "message", "label": "Message", "type": "textarea"},
        ],
    )
    world.create_form("Newsletter signup")
    hook = world.add_webhook(contact, f"{sink.url}/hook", name="Orders hook")
    world.add_webhook(contact, f"{sink.url}/crm", name="CRM webhook")
    seeded = _seed_history(world, contact, hook)

    people = [
        ("Ada Lovelace", "ada@example.com"),
        ("Grace Hopper", "grace@example.com"),
        ("Alan Turing", "alan@example.com"),
    ]
    jobs = [
        j
        for name, email in people
        for j in world.submit(contact, {"name": name, "email": email, "message": "Hello!"})
    ]
    wait_until(
        lambda: all(world.job(j)["status"] in ("completed", "failed") for j in jobs), what="deliveries"
    )

    login(page, world.owner)
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")

    # Jobs of the last 24 h by status: today's 3 completed and 3 failed, plus any seeded job within 24 h
    # (the 24 clock hours up to now, the current one included: the rollups' hours).
    since = window_start(24).timestamp()
    recent = [status for created, status in seeded if created >= since]
    counts = {"completed": 3 + recent.count("completed"), "failed": 3 + recent.count("failed")}
    stats = page.get_by_role("region", name="Jobs in the last 24 hours")
    for status, count in counts.items():
        expect(stats.get_by_role("link", name=f"{count} {status}")).to_be_visible()

    # One bar per day, oldest first, with the share delivered.
    titles = page.locator("#success-chart .bar rect title").all_text_contents()
    assert len(titles) == 7
    expected = [f"{round(c * 100 / (c + f))} %" for c, f in (HISTORY[d] for d in range(6, 0, -1))] + ["50 %"]
    assert [t.split(": ", 1)[1].split(" — ")[0] for t in titles] == expected
    assert titles[3].endswith("7 of 10 delivered")

    failing = page.get_by_role("region", name="Integrations failing or delayed now")
    expect(failing).to_contain_text("CRM webhook")
    expect(failing).to_contain_text("unknown field: message")
    expect(failing).not_to_contain_text("Orders hook")
    assert_accessible(page)
    shot(page, "dashboard", docs=True)

    page.goto(f"/admin/forms/{contact}")
    expect(page.get_by_role("article", name="Orders hook")).to_contain_text("7-day success")
    shot(page, "form-page", docs=True)

    page.goto("/admin/executions?view=jobs&range=24h")
    expect(page.locator("#executions-table .badge", has_text="failed")).to_have_count(3)
    shot(page, "executions", docs=True)
