"""Executions trace back to submissions: summaries and links, search by submission, attempts vs budget."""

from __future__ import annotations

from app.models import PluginExecutionLog, PluginJob


def test_job_rows_show_and_find_their_submission(app, api, owner):
    form = api.create_form("Orders", [{"name": "name"}, {"name": "email", "type": "email"}])
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/hook"}, name="Orders hook")
    ada = api.submit(form["id"], {"name": "Ada", "email": "ada@example.com"})
    grace = api.submit(form["id"], {"name": "Grace", "email": "grace@example.com"})
    page = owner.get("/admin/executions").text
    assert "ada@example.com" in page and f"/admin/submissions/{ada['id']}" in page
    assert "Attempts used" in page and "Budget" in page
    by_value = owner.get("/admin/executions?q=grace").text
    assert (
        f"/admin/submissions/{grace['id']}" in by_value and f"/admin/submissions/{ada['id']}" not in by_value
    )
    by_id = owner.get(f"/admin/executions?q={ada['id']}").text
    assert f"/admin/submissions/{ada['id']}" in by_id and f"/admin/submissions/{grace['id']}" not in by_id


def test_retrying_a_permanent_failure_asks_to_fix_the_cause_first(app, api, owner):
    form = api.create_form("Orders", [{"name": "email", "type": "email"}])
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/hook"})
    (job_id,) = api.submit(form["id"], {"email": "ada@example.com"})["jobs"]
    with app.app_context():
        job = PluginJob.objects.get(id=job_id)
        job.update(status="failed", attempts=1, last_error="HTTP 404 Not Found")
        PluginExecutionLog(
            job_id=job_id,
            config_id=job.config_id,
            form_id=form["id"],
            workspace_id=job.workspace_id,
            attempt=1,
            status="failed",
            error_type="permanent",
            error_message="HTTP 404 Not Found",
        ).save()
    assert "retrying cannot fix" in owner.get("/admin/executions").text
    detail = owner.get(f"/admin/jobs/{job_id}").text
    assert "retrying cannot fix" in detail and "Attempt budget" in detail


def test_live_regions_answer_304_while_nothing_changes(api, owner):
    live = {"X-Live": "1"}
    first = owner.get("/admin/executions?partial=1", headers=live)
    assert first.status_code == 200 and first.headers["ETag"]
    again = owner.get("/admin/executions?partial=1", headers={**live, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    form = api.create_form("Orders", [{"name": "email", "type": "email"}])
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/hook"})
    api.submit(form["id"], {"email": "ada@example.com"})
    changed = owner.get(
        "/admin/executions?partial=1", headers={**live, "If-None-Match": first.headers["ETag"]}
    )
    assert changed.status_code == 200 and "ada@example.com" in changed.text
    assert "ETag" not in owner.get("/admin/executions").headers  # a page's own load is never a 304


def test_a_pending_job_shows_when_its_next_attempt_is(app, api, owner):
    form = api.create_form("Orders", [{"name": "email", "type": "email"}])
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/hook"})
    (job_id,) = api.submit(form["id"], {"email": "ada@example.com"})["jobs"]  # no scheduler: stays pending
    page = owner.get(f"/admin/jobs/{job_id}").text
    next_attempt = page.split("<dt>Next attempt</dt>")[1].split("</dd>")[0]
    assert "data-relative" in next_attempt and "data-absolute" in next_attempt and " UTC" in next_attempt
