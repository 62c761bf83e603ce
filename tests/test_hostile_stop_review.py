"""A hostile review of the stop's changes (874694d..): what another party could do to a workspace."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.workflows.conftest import create_workflow

FIELDS = [{"name": "note", "type": "text"}]


@pytest.mark.parametrize("sizes", [(100_000, 50_000), (60_000, 60_000, 20_000, 10_000)])
def test_a_stranger_filling_a_public_form_cannot_stop_the_owners_other_runs(make_app, sink, sizes):
    """A form-event workflow of 20 steps weighs each submission 20 times against WORKFLOW_BYTES_PER_MINUTE:
    (at the default 256 MiB, about 13 submissions of 1 MB a minute from one address, under its 60 a minute,
    refuse every run of the workspace, manual, schedule and inbound alike)."""
    app = make_app(WORKFLOW_BYTES_PER_MINUTE=3 * 1024 * 1024)
    owner = Api(app.test_client())
    form = owner.create_form("Public", FIELDS)
    steps = [{"name": f"s{i}", "plugin_id": "webhook", "config": {"url": f"{sink.url}/{i}"}} for i in range(20)]
    create_workflow(owner, {"type": "form_event", "form_id": form["id"]}, steps)
    own = create_workflow(owner, {"type": "manual"}, steps[:1])
    stranger = app.test_client()  # no credential: the public intake
    for size in sizes:  # (a few calls: most of the minute's bytes)
        sent = stranger.post(f"/api/forms/{form['id']}/submissions", json={"data": {"note": "x" * size}})
        assert sent.status_code == 202, sent.json
    mine = owner.post(f"/api/workflows/{own['id']}/run", {"data": {"text": "y" * 200_000}})
    assert mine.status_code == 202, mine.json


@pytest.mark.parametrize("limit", [1, 3])
def test_a_stranger_filling_a_public_form_cannot_use_up_the_owners_runs_per_minute(make_app, sink, limit):
    """The runs per minute were one count per workspace: a stranger's few submissions to a public form
    behind a form-event workflow refused the owner's own runs (by hand, schedules, replays) for the minute."""
    app = make_app(WORKFLOW_RUNS_PER_MINUTE=limit)
    owner = Api(app.test_client())
    form = owner.create_form("Public", FIELDS)
    step = [{"name": "s", "plugin_id": "webhook", "config": {"url": sink.url}}]
    create_workflow(owner, {"type": "form_event", "form_id": form["id"]}, step)
    own = create_workflow(owner, {"type": "manual"}, step)
    stranger = app.test_client()
    for i in range(limit + 2):  # past the limit: their own runs are refused, recorded as failed
        assert stranger.post(f"/api/forms/{form['id']}/submissions", json={"data": {"note": str(i)}}).status_code == 202
    runs = owner.get("/api/workflow-runs").json["items"]
    assert "failed" in [r["status"] for r in runs if r["trigger_type"] == "form_event"]  # their minute is spent
    for _ in range(limit):  # the owner's own minute is whole
        assert owner.post(f"/api/workflows/{own['id']}/run", {"data": {}}).status_code == 202
    assert owner.post(f"/api/workflows/{own['id']}/run", {"data": {}}).status_code == 429  # and then spent
