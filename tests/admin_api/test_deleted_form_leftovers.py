"""A deleted form's data through the lists: DELETE /api/forms/<id> promises its submissions, jobs and logs
answer 404 at once and go in the background."""

from __future__ import annotations

from app.engine import retention
from app.models import PluginExecutionLog, PluginJob
from tests.admin_api.conftest import people  # noqa: F401
from tests.admin_ui.conftest import owner_client

FIELDS = [{"name": "email", "type": "email"}]


def _form_with_failed_deliveries(api):
    form = api.create_form("A form", FIELDS)
    cfg = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/h"},
                         trigger_events=["form.submitted", "form.updated"])
    subs = [api.submit(form["id"], {"email": f"secret{i}@example.com"}) for i in range(2)]
    assert api.patch(f"/api/forms/{form['id']}", {"name": "Renamed", "fields": FIELDS}).status_code == 200
    jobs = PluginJob._get_collection()
    jobs.update_many({"form_id": form["id"]}, {"$set": {"status": "failed"}})
    for job in jobs.find({"form_id": form["id"]}):
        PluginExecutionLog(job_id=str(job["_id"]), config_id=cfg["id"], form_id=form["id"],
                           workspace_id=form["workspace_id"], submission_id=job.get("submission_id"),
                           attempt=1, status="failed", request={"body": job["payload"]}).save()
    return form, subs, [str(j["_id"]) for j in jobs.find({"form_id": form["id"]})]


def test_executions_page_does_not_show_a_deleted_forms_deliveries(api, app):
    form, subs, job_ids = _form_with_failed_deliveries(api)
    ui = owner_client(app)
    assert api.delete(f"/api/forms/{form['id']}").status_code == 204
    assert ui.get(f"/admin/jobs/{job_ids[0]}").status_code == 404
    assert ui.get(f"/admin/submissions/{subs[0]['id']}").status_code == 404
    for view in ("jobs", "attempts"):
        page = ui.get(f"/admin/executions?view={view}").get_data(as_text=True)
        assert "secret0@example.com" not in page, view  # shown as the row's submission summary
        assert not any(job_id in page for job_id in job_ids), view


def test_a_retention_pass_leaves_nothing_of_a_deleted_form(api, app):
    form, _, _ = _form_with_failed_deliveries(api)
    assert api.delete(f"/api/forms/{form['id']}").status_code == 204
    with app.app_context():
        retention.run_pass(100, 1.0, 30.0)
    record = api.get("/api/removals").json["items"][0]
    assert (record["kind"], record["remaining"]) == ("form_deletion", False)  # "done"
    left = list(PluginJob._get_collection().find({"form_id": form["id"]}, {"event": 1}))
    assert left == [], left  # the form.updated job (no submission) stays, for good
    assert PluginExecutionLog._get_collection().count_documents({"form_id": form["id"]}) == 0
    assert api.get(f"/api/jobs?form_id={form['id']}").json["items"] == []  # its payload: the form's name, fields


def test_an_erasure_right_after_a_form_deletion_removes_the_address_from_it(api, app):
    """Until a retention pass has finished the deleted form (hours for a large one: 100 a batch, half a pass
    each 10 s), its submissions still hold the address; an erasure reads only the forms that exist."""
    from app.engine import operations
    from app.models import Submission

    form, subs, _ = _form_with_failed_deliveries(api)
    assert api.delete(f"/api/forms/{form['id']}").status_code == 204
    resp = api.post(f"/api/workspaces/{form['workspace_id']}/erasures", {"identifier": "secret0@example.com"})
    assert resp.status_code == 202, resp.json
    with app.app_context():
        while (step := operations.step("t", 30.0, 50, 10**9, 5)).done or step.prepared:
            pass
    op = api.get(f"/api/operations/{resp.json['id']}").json
    assert op["status"] == "completed", op
    held = Submission._get_collection().count_documents({"data.email": "secret0@example.com"})
    assert held == 0, f"erasure completed, {held} submission still holds the address"
