"""The daily digest names a workflow's failing step by its workflow and step, not as a deleted integration."""

from __future__ import annotations

import time

from bson import ObjectId

from app.engine.alert_delivery import digest_lines
from app.models import PluginExecutionLog
from tests.conftest import Api
from tests.support.sink import Reply
from tests.workflows.conftest import create_workflow, finished_run


def test_the_digest_names_the_workflow_and_the_step_that_failed(make_app, sink):
    sink.responder = lambda req: Reply(400 if req.path == "/fail" else 200)
    app = make_app(SCHEDULER_ENABLED=True)
    api = Api(app.test_client())
    steps = [
        {"name": "fetch", "plugin_id": "webhook", "config": {"url": sink.url + "/ok"}},
        {"name": "notify", "plugin_id": "webhook", "config": {"url": sink.url + "/fail"}},
    ]
    wf = create_workflow(api, {"type": "manual"}, steps, name="Nightly")
    for _ in range(2):
        run = finished_run(api, api.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).json["id"])
        assert run["status"] == "failed"
    with app.app_context():
        lines = digest_lines(app.config, wf["workspace_id"], time.time())
        # a failure of an integration deleted since still reads as one
        PluginExecutionLog._get_collection().insert_one(
            {**PluginExecutionLog._get_collection().find_one({"status": "failed"}, {"_id": 0}),
             "config_id": str(ObjectId()), "job_id": str(ObjectId())}
        )
        more = digest_lines(app.config, wf["workspace_id"], time.time())
    assert [line.split(":")[0] for line in lines] == ["- workflow 'Nightly', step notify"]
    assert ": 2 failed attempt(s)" in lines[0]
    assert sorted(line.split(":")[0] for line in more) == ["- a deleted integration", "- workflow 'Nightly', step notify"]
