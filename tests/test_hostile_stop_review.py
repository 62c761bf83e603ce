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
