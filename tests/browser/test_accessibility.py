"""axe-core on every admin page (the URL map is walked, so a new page is checked too), the 404 page and
the hosted form, at desktop and phone widths: no critical or serious violation, nothing wider than the
screen."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.axe_check import assert_no_serious_violations
from tests.browser.conftest import assert_accessible, login

pytestmark = pytest.mark.browser

NOT_PAGES = {"admin.static", "admin.export_submissions", "admin.login", "admin.plugin_icon"}  # files and downloads
NOT_PAGES |= {"admin.new_submission_rows", "admin.new_form_submission_rows"}  # fragments a page's script asks for
WIDTHS = (1280, 390)


def _pages(world, ids: dict[str, str]) -> list[str]:
    urls = []
    for rule in world.server.app.url_map.iter_rules():
        if not rule.endpoint.startswith("admin.") or rule.endpoint in NOT_PAGES or "GET" not in rule.methods:
            continue
        path = rule.rule
        for name in rule.arguments:
            assert name in ids, f"{rule.rule}: teach this test about {name}"
            path = path.replace(f"<{name}>", ids[name])
        urls.append(path)
    return sorted(urls) + ["/admin/executions?view=attempts", "/admin/no-such-page"]


@pytest.mark.heavy(seconds=33)
def test_every_admin_page_passes_axe_at_desktop_and_phone_widths(page, world, sink):
    form_id = world.create_form(
        "Contact", [{"name": "email", "type": "email", "required": True}, {"name": "age", "type": "number"}]
    )
    config_id = world.add_webhook(form_id, f"{sink.url}/hook")
    accepted = world.api(
        "POST", f"/api/forms/{form_id}/submissions", json={"data": {"email": "a@example.com", "age": 3}}
    )
    job_id = accepted.json()["jobs"][0]
    sink.wait_for(1)
    flow = world.api(
        "POST",
        "/api/workflows",
        json={
            "name": "Flow",
            "workspace_id": world.workspace_id,
            "trigger": {"type": "manual"},
            "steps": [{"name": "hook", "plugin_id": "webhook", "config": {"url": f"{sink.url}/flow"}}],
        },
    ).json()
    flow_run = world.api("POST", f"/api/workflows/{flow['id']}/run", json={"data": {"n": 1}}).json()
    ids = {
        "workflow_id": flow["id"],
        "run_id": flow_run["id"],
        "form_id": form_id,
        "config_id": config_id,
        "job_id": job_id,
        "submission_id": accepted.json()["id"],
        "plugin_id": "webhook",
        "token": "an-unknown-invitation",  # the invitation page, as a link that does not work shows it
    }
    page.goto("/admin/login")
    assert_no_serious_violations(page, "login")
    login(page, world.owner)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for url in _pages(world, ids) + [f"/admin/jobs/{flow_run['steps'][0]['job_id']}"]:  # a step's job too
            page.goto(url)
            expect(page.locator("main")).to_be_visible()
            assert_no_serious_violations(page, f"{url} at {width} px")
            assert_accessible(page)
        page.goto(f"/admin/workflows/{flow['id']}")  # the step builder's insert-field picker, open
        page.get_by_role("button", name="Insert field into step 2 config").click()
        expect(page.locator("#s1-config-picker")).to_be_visible()
        assert_no_serious_violations(page, f"the step builder's picker at {width} px")
    page.goto(f"/f/{form_id}")
    assert_no_serious_violations(page, "hosted form")
