"""The trigger signal carries the request's write unit and returns nothing: listeners add their jobs to the
unit, the view commits it and answers with the ids the unit holds."""

from __future__ import annotations

from bson import ObjectId

from app import signals
from app.engine.jobs import new_job
from app.models import PluginJob
from app.services import services


def test_a_listener_adds_its_jobs_to_the_unit_and_the_202_lists_them(app, api):
    form = api.create_form()
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/x"})
    extra: list[ObjectId] = []

    def also(sender, event, form, unit, submission=None, **_):
        config = {"_id": ObjectId(), "plugin_id": "webhook", "workspace_id": form.get("workspace_id")}
        doc = new_job(config, form, submission, event.name, {}, f"{event.key}:also", 1)
        extra.append(doc["_id"])
        unit.add_jobs(services(sender).inserts.jobs, [doc], lambda part: [doc["_id"]] if part.written else [])
        return ["returned, not read"]

    signals.form_submitted.connect(also, sender=app)
    try:
        answers = [api.submit(form["id"], {"n": n}) for n in range(3)]
    finally:
        signals.form_submitted.disconnect(also, sender=app)
    for answer, mine in zip(answers, extra, strict=True):
        assert len(answer["jobs"]) == 2 and str(mine) in answer["jobs"]
        assert "returned, not read" not in answer["jobs"]
        assert PluginJob._get_collection().count_documents({"submission_id": answer["id"]}) == 2


def test_an_edit_commits_its_own_unit(app, api):
    form = api.create_form()
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/x"}, trigger_events=["response.edited"])
    sub = api.submit(form["id"], {"n": 0})
    assert sub["jobs"] == []
    for n in range(1, 3):
        edited = api.patch(f"/api/submissions/{sub['id']}", {"data": {"n": n}}).json
        [job_id] = edited["jobs"]
        assert PluginJob._get_collection().find_one({"_id": ObjectId(job_id)})["event"] == "response.edited"
