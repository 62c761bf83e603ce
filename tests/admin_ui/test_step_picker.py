"""The step builder's insert-field picker: each step's config may insert the trigger's fields and the earlier
steps' outputs (``{{ steps.<name>.output.<key> }}``), never a later step's."""

from __future__ import annotations

import re

from app.engine.workflow_runs import runs
from app.models import PluginJob
from tests.admin_api.conftest import People, login
from tests.workflows.conftest import FIELDS, create_workflow


def _picker(page: str, row: int) -> list[str]:
    """The texts the picker of step row ``row`` inserts."""
    panel = re.search(rf'id="s{row}-config-picker"[^>]*>(.*?)</ul>', page, re.S)
    return re.findall(r'data-insert="([^"]*)"', panel.group(1)) if panel else []


def test_each_step_may_insert_the_forms_fields_and_earlier_steps_outputs(api, owner):
    form = api.create_form("Leads", FIELDS)
    steps = [
        {"name": "window", "plugin_id": "submissions_window", "config": {"form_id": form["id"]}},
        {"name": "mail", "plugin_id": "webhook", "config": {"url": "http://127.0.0.1:9/x"}},
    ]
    wf = create_workflow(api, {"type": "form_event", "form_id": form["id"]}, steps)
    page = owner.get(f"/admin/workflows/{wf['id']}").get_data(as_text=True)
    first, second, blank = _picker(page, 0), _picker(page, 1), _picker(page, 2)
    assert "{{ data.email }}" in first and not any("steps." in t for t in first)
    assert "{{ data.email }}" in second and "{{ steps.window.output.count }}" in second
    assert "{{ steps.window.output.file_id }}" not in second  # (that is the CSV step's)
    assert "{{ steps.mail.output }}" in blank  # a new step after both: the webhook's output, not declared


def test_other_triggers_list_the_latest_runs_input_and_the_outputs_it_recorded(app, api, owner):
    steps = [
        {"name": "first", "plugin_id": "webhook", "config": {"url": "http://127.0.0.1:9/a"}},
        {"name": "second", "plugin_id": "webhook", "config": {"url": "http://127.0.0.1:9/b"}},
    ]
    wf = create_workflow(api, {"type": "manual"}, steps)
    api.post(f"/api/workflows/{wf['id']}/run", {"data": {"order_id": "A-1", "bad key": 1}})
    with app.app_context():
        job = PluginJob._get_collection().find_one({"config_id": f"{wf['id']}:first"})
        runs(app).settled(job, True, {"contact_id": "101", "url": "https://x.example/101"}, None)
    page = owner.get(f"/admin/workflows/{wf['id']}").get_data(as_text=True)
    second = _picker(page, 1)
    assert "{{ data.order_id }}" in second and '{{ data[&#34;bad key&#34;] }}' in second
    assert "{{ steps.first.output.contact_id }}" in second and "{{ steps.first.output.url }}" in second


def test_a_viewer_gets_no_picker_and_a_schedule_lists_its_fire_time(api, app, owner):
    people = People(app)
    people.member("v@example.com", {people.default_workspace(): "viewer"})
    steps = [{"name": "first", "plugin_id": "webhook", "config": {"url": "http://127.0.0.1:9/a"}}]
    wf = create_workflow(api, {"type": "schedule", "cron": "0 8 * * *"}, steps)
    assert _picker(owner.get(f"/admin/workflows/{wf['id']}").get_data(as_text=True), 0) == [
        "{{ data.fire_time }}",
        "{{ data.timezone }}",
    ]
    client = app.test_client()
    assert login(client, "v@example.com").status_code == 200
    page = client.get(f"/admin/workflows/{wf['id']}")
    assert page.status_code == 200 and "data-field-picker" not in page.get_data(as_text=True)
