"""Executions' waiting states (pending, running) read by their status across every workspace: workspace B's
page walks workspace A's pending jobs (an outage of A's integration queues hundreds of thousands)."""

from __future__ import annotations

import datetime as dt
import time

from bson import ObjectId

from app.models import PluginJob
from tests.admin_api.conftest import login, people  # noqa: F401
from tests.support.commands import commands_sent
from tests.support.seed import insert_many

ANCHORS = ("workspace_id", "form_id", "config_id", "submission_id", "job_id", "_id")


def _setup(api, app, people, pending):  # noqa: F811
    form = api.create_form("A form", [{"name": "email", "type": "email"}])
    cfg = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/h"})
    now = dt.datetime.utcnow()
    for start in range(0, pending, 10_000):
        docs = [
            {"_id": ObjectId(), "config_id": cfg["id"], "form_id": form["id"], "workspace_id": form["workspace_id"],
             "status": "pending", "submission_id": None, "plugin_id": "webhook", "event": "form.submitted",
             "payload": {}, "dispatch_key": f"k{n}", "idempotency_key": f"m{n}", "attempts": 0, "max_attempts": 5,
             "scheduled_for": time.time() + 3600, "created_at": now - dt.timedelta(seconds=n)}
            for n in range(start, min(pending, start + 10_000))
        ]
        with app.app_context():
            insert_many(PluginJob._get_collection(), docs)
    ws_b = people.workspace("B")
    people.member("b@example.com", {ws_b: "owner"}).api.create_form("B form", [])
    ui = app.test_client()
    assert login(ui, "b@example.com").status_code == 200
    return ui


def _scoped(filt: dict) -> bool:
    """An equality on something of one workspace (not a status every workspace's jobs share)."""
    return any(name in filt and (isinstance(filt[name], str) or "$eq" in filt[name]) for name in ANCHORS)


def test_b_pending_page_reads_only_along_bs_own_anchors(api, app, people):  # noqa: F811
    ui = _setup(api, app, people, 2_000)
    for query in ("status=pending", "status=running", "status=pending&to=2100-01-01"):
        with commands_sent() as sent:
            assert ui.get(f"/admin/executions?{query}").status_code == 200
        reads = [cmd["filter"] for name, cmd in sent if name == "find" and cmd["find"] == "plugin_jobs"]
        assert reads and all(_scoped(f) for f in reads), (query, reads)
