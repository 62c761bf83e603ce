"""Health that tells the truth: jobs held by an open circuit or a back-off are delayed (and counted as not
delivered), failing and delayed integrations come first on the dashboard, the circuit is said in words, its
links show those jobs, and Retry now ends the cool-down for owners and editors of the workspace only."""

from __future__ import annotations

import re
import time

import pytest
from bson import ObjectId

from app.engine import rollup_rebuild
from app.models import PluginConfig, PluginExecutionLog, PluginJob
from tests.admin_api.conftest import people  # noqa: F401

FAILURES = 11


def _open_circuit(app, config_id: str, next_trial_in: float = 600) -> float:
    """The circuit as the breaker leaves it after FAILURES failures; returns its next trial time."""
    now = time.time()
    circuit = {
        "state": "open",
        "failures": FAILURES,
        "cooldown": next_trial_in,
        "opened_at": now,
        "next_trial_at": now + next_trial_in,
        "failing_since": now - 2400,
    }
    with app.app_context():
        PluginConfig._get_collection().update_one(
            {"_id": ObjectId(config_id)}, {"$set": {"circuit": circuit}}
        )
        PluginExecutionLog(
            job_id=str(ObjectId()),
            config_id=config_id,
            form_id=PluginConfig.objects.get(id=config_id).form_id,
            attempt=1,
            status="failed",
            error_message="HTTP 503 Service Unavailable",
        ).save()
    return now + next_trial_in


def _set_jobs(app, job_ids: list[str], **fields) -> None:
    with app.app_context():
        PluginJob._get_collection().update_many(
            {"_id": {"$in": [ObjectId(j) for j in job_ids]}}, {"$set": fields}
        )


@pytest.fixture
def failing(app, api):
    """A form with two webhooks: "CRM" behind an open circuit with 2 delivered and 3 waiting jobs, and
    "Mailer" healthy; plus "Quiet" with one job waiting out a retry's back-off."""
    form = api.create_form("Orders", [{"name": "email", "type": "email"}])
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/ok"}, name="Mailer")
    crm = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/crm"}, name="CRM")
    jobs: dict[str, list[str]] = {}
    for i in range(5):
        for job_id in api.submit(form["id"], {"email": f"p{i}@example.com"})["jobs"]:
            jobs.setdefault(api.job(job_id)["config_id"], []).append(job_id)
    crm_jobs = jobs[crm["id"]]
    mailer_jobs = next(ids for cid, ids in jobs.items() if cid != crm["id"])
    _set_jobs(app, mailer_jobs, status="completed")
    _set_jobs(app, crm_jobs[:2], status="completed")
    # the waiting ones were deferred by the circuit: due when its cool-down ends
    next_trial = _open_circuit(app, crm["id"])
    _set_jobs(app, crm_jobs[2:], scheduled_for=next_trial)
    quiet_form = api.create_form("Quiet", [{"name": "email", "type": "email"}])
    quiet = api.add_plugin(quiet_form["id"], "webhook", {"url": "http://127.0.0.1:9/q"}, name="Quiet")
    quiet_job = api.submit(quiet_form["id"], {"email": "q@example.com"})["jobs"][0]
    _set_jobs(app, [quiet_job], scheduled_for=time.time() + 300, attempts=1, last_error="HTTP 502")
    with app.app_context():
        rollup_rebuild.rebuild()  # the statuses were set behind the engine's back: count them again
    return dict(
        form=form, crm=crm, quiet=quiet, crm_jobs=crm_jobs, quiet_job=quiet_job, next_trial=next_trial
    )


def test_failing_and_delayed_integrations_come_first_with_the_circuit_in_words(owner, failing):
    html = owner.get("/admin/").get_data(as_text=True)
    trouble = html.split('id="failing-h"')[1].split("</section>")[0]
    assert html.index('id="failing-h"') < html.index('id="status-h"') < html.index('id="range-h"')
    assert trouble.index("CRM") < trouble.index("Quiet")  # failing before only delayed
    assert "Mailer" not in trouble
    clock = time.strftime("%H:%M", time.gmtime(failing["next_trial"]))
    assert f"Deliveries paused after {FAILURES} failures in a row; next try at {clock} (UTC)." in trouble
    assert "HTTP 503 Service Unavailable" in trouble
    assert re.search(r"\b3 delayed jobs\b", trouble) and re.search(r"\b1 delayed job\b", trouble)
    assert trouble.count(">Retry now<") == 2


def test_the_dashboard_counts_delayed_jobs_as_not_delivered(owner, failing):
    html = owner.get("/admin/?range=24h").get_data(as_text=True)
    figures = dict(
        (label, value)
        for value, label in re.findall(
            r'<span class="stat-value">([^<]+)</span>\s*<span class="stat-label">([^<]+)</span>', html
        )
    )
    # 7 delivered of 11 (Mailer 5, CRM 2; CRM's 3 and Quiet's 1 delayed)
    assert figures["delivered"] == "64 %"
    assert figures["delayed"] == "4" and figures["delayed now"] == "4"
    assert "100 %" not in html.split('id="range-h"')[1].split("</section>")[0]


def test_a_card_counts_jobs_pending_behind_the_circuit(owner, failing):
    html = owner.get(f"/admin/forms/{failing['form']['id']}").get_data(as_text=True)
    card = html.split('data-config="{}"'.format(failing["crm"]["id"]))[1].split("</article>")[0]
    assert "40 %" in card and "(2 of 5; 3 delayed)" in card
    assert f"Deliveries paused after {FAILURES} failures in a row" in card
    assert ">Retry now<" in card


@pytest.mark.parametrize("which", ["crm", "quiet", None])
def test_the_delayed_filter_lists_the_jobs_held_back(owner, failing, which):
    scope = f"&config_id={failing[which]['id']}" if which else ""  # (None: every form's)
    html = owner.get(f"/admin/executions?view=jobs&status=delayed&range=all{scope}").text
    listed = set(re.findall(r'href="/admin/jobs/([0-9a-f]{24})"', html))
    want = {*(failing["crm_jobs"][2:] if which != "quiet" else []), *([failing["quiet_job"]] if which != "crm" else [])}
    assert listed == want
    assert "<option selected>delayed</option>" in html


def test_retry_now_ends_the_cool_down_and_makes_the_held_jobs_due(app, api, failing):
    resp = api.post(f"/api/plugin-configs/{failing['crm']['id']}/retry-now")
    assert resp.status_code == 200, resp.json
    assert resp.json["circuit_retried"] is True and resp.json["jobs_due_now"] == 3
    now = time.time()
    assert resp.json["circuit"]["next_trial_at"] <= now
    with app.app_context():
        due = [j.scheduled_for for j in PluginJob.objects(id__in=failing["crm_jobs"][2:])]
        quiet = PluginJob.objects.get(id=failing["quiet_job"]).scheduled_for
    assert all(when <= now for when in due)
    assert quiet > now + 200  # another integration's jobs are left alone


def test_retry_now_is_for_owners_and_editors_of_the_workspace(app, api, failing, people):  # noqa: F811
    url = f"/api/plugin-configs/{failing['crm']['id']}/retry-now"
    home = people.default_workspace()
    viewer = people.member("viewer@example.com", {home: "viewer"})
    editor = people.member("editor@example.com", {home: "editor"})
    stranger = people.member("owner@elsewhere.test", {people.workspace("Elsewhere"): "owner"})
    assert stranger.api.post(url).status_code == 404
    assert api.post("/api/plugin-configs/000000000000000000000000/retry-now").status_code == 404
    assert viewer.api.post(url).status_code == 403
    with app.app_context():
        untouched = PluginConfig.objects.get(id=failing["crm"]["id"]).circuit["next_trial_at"]
    assert untouched == pytest.approx(failing["next_trial"])
    assert editor.api.post(url).status_code == 200


def test_a_delayed_workflow_step_is_listed_as_delayed(app, api, owner):
    """Found by a review: the delayed list read the integrations' jobs only."""
    from bson import ObjectId

    from app.engine.jobs import step_key
    from app.models import PluginJob, utcnow
    from tests.workflows.test_triggers import HOOK

    form = api.create_form("Orders", [{"name": "email", "type": "email"}])
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/ok"}, name="Mailer")
    wf = api.post("/api/workflows", {"name": "A flow", "trigger": {"type": "manual"}, "steps": HOOK}).json
    job_id = ObjectId()
    with app.app_context():
        PluginJob._get_collection().insert_one(
            {"_id": job_id, "config_id": step_key(wf["id"], "hook"), "form_id": form["id"],
             "workspace_id": form["workspace_id"], "status": "pending", "submission_id": None,
             "plugin_id": "webhook", "event": "workflow.run", "payload": {}, "dispatch_key": "run:x:0",
             "idempotency_key": "run:x:0", "attempts": 0, "max_attempts": 5,
             "scheduled_for": time.time() + 3600, "created_at": utcnow(), "run_id": str(ObjectId()), "step": 0})
    html = owner.get("/admin/executions?view=jobs&status=delayed&range=all").text
    assert str(job_id) in set(re.findall(r'href="/admin/jobs/([0-9a-f]{24})"', html))
