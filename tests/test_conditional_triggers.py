"""Conditional triggers end to end: jobs only for integrations whose conditions match the event."""

from __future__ import annotations

FIELDS = [
    {"name": "email", "type": "email", "required": True},
    {"name": "budget", "type": "number"},
    {"name": "country", "type": "text"},
]
BIG = {"match": "all", "rules": [{"field": "budget", "op": "gt", "value": 10000}]}


def _config_ids(api, job_ids: list[str]) -> set[str]:
    return {api.job(job_id)["config_id"] for job_id in job_ids}


def _hook(api, form_id: str, url: str = "https://example.com/hook", **extra) -> dict:
    return api.add_plugin(form_id, "webhook", {"url": url}, **extra)


def test_a_submission_creates_jobs_only_for_integrations_whose_conditions_match(api):
    form = api.create_form("Leads", FIELDS)
    sales = _hook(api, form["id"], conditions=BIG)
    everyone = _hook(api, form["id"])

    small = api.submit(form["id"], {"email": "a@example.com", "budget": 500})
    large = api.submit(form["id"], {"email": "b@example.com", "budget": 25000})

    assert _config_ids(api, small["jobs"]) == {everyone["id"]}
    assert _config_ids(api, large["jobs"]) == {everyone["id"], sales["id"]}
    shown = api.get(f"/api/plugin-configs/{sales['id']}").json
    assert shown["skipped_events"] == 1
    assert shown["conditions"] == {**BIG, "on_edit": "always"}


def test_an_edit_can_fire_only_when_it_newly_matches(api):
    form = api.create_form("Leads", FIELDS)
    newly = {**BIG, "on_edit": "newly_matching"}
    sales = _hook(api, form["id"], conditions=newly, trigger_events=["response.edited"])
    sub = api.submit(form["id"], {"email": "a@example.com", "budget": 500})

    def edit(budget: int) -> set[str]:
        resp = api.patch(f"/api/submissions/{sub['id']}", {"data": {"email": "a@example.com", "budget": budget}})
        assert resp.status_code == 200, resp.json
        return _config_ids(api, resp.json["jobs"])

    assert edit(900) == set()  # still below
    assert edit(20000) == {sales["id"]}  # crosses the line
    assert edit(30000) == set()  # matched before already
    assert edit(100) == set()
    assert edit(50000) == {sales["id"]}


def test_a_condition_on_an_unknown_field_is_refused_at_save_naming_it(api):
    form = api.create_form("Leads", FIELDS)
    resp = api.post(
        f"/api/forms/{form['id']}/plugins",
        {"plugin_id": "webhook", "config": {"url": "https://example.com/"},
         "conditions": {"rules": [{"field": "budjet", "op": "gt", "value": 1}]}},
    )
    assert resp.status_code == 422
    assert resp.json["error"]["details"]["conditions"] == {"rules.0.field": ["The form has no field 'budjet'."]}
    assert api.get(f"/api/forms/{form['id']}/plugins").json["items"] == []


def test_a_bad_condition_in_an_update_changes_nothing(api):
    form = api.create_form("Leads", FIELDS)
    hook = _hook(api, form["id"], conditions=BIG)
    resp = api.patch(
        f"/api/plugin-configs/{hook['id']}",
        {"name": "Renamed", "conditions": {"rules": [{"field": "budget", "op": "gt", "value": "lots"}]}},
    )
    assert resp.status_code == 422
    assert "number or a date" in resp.json["error"]["details"]["conditions"]["rules.0.value"][0]
    shown = api.get(f"/api/plugin-configs/{hook['id']}").json
    assert (shown["name"], shown["conditions"]["rules"]) == (hook["name"], BIG["rules"])


def test_conditions_can_be_removed_so_the_integration_runs_always(api):
    form = api.create_form("Leads", FIELDS)
    hook = _hook(api, form["id"], conditions=BIG)
    assert api.patch(f"/api/plugin-configs/{hook['id']}", {"conditions": None}).status_code == 200
    accepted = api.submit(form["id"], {"email": "a@example.com", "budget": 1})
    assert _config_ids(api, accepted["jobs"]) == {hook["id"]}


def test_would_this_match_checks_recent_submissions(api):
    form = api.create_form("Leads", FIELDS)
    for budget in (100, 20000, 30000):
        api.submit(form["id"], {"email": "a@example.com", "budget": budget})
    resp = api.post(f"/api/forms/{form['id']}/conditions/check", {"conditions": BIG})
    assert resp.status_code == 200
    assert (resp.json["matched"], resp.json["checked"]) == (2, 3)
    refused = api.post(f"/api/forms/{form['id']}/conditions/check", {"conditions": {"rules": [{"field": "x"}]}})
    assert refused.status_code == 422

