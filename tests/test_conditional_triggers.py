"""Conditional triggers end to end: jobs only for integrations whose conditions match the event."""

from __future__ import annotations

import random
import time

from bson import ObjectId

from app.api.conditions import CHECK_BUDGET
from app.engine.conditions import EVENT_BUDGET
from app.models import PluginConfig
from tests.conftest import ui_login

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
        resp = api.patch(
            f"/api/submissions/{sub['id']}", {"data": {"email": "a@example.com", "budget": budget}}
        )
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
        {
            "plugin_id": "webhook",
            "config": {"url": "https://example.com/"},
            "conditions": {"rules": [{"field": "budjet", "op": "gt", "value": 1}]},
        },
    )
    assert resp.status_code == 422
    assert resp.json["error"]["details"]["conditions"] == {
        "rules.0.field": ["The form has no field 'budjet'."]
    }
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
    refused = api.post(
        f"/api/forms/{form['id']}/conditions/check", {"conditions": {"rules": [{"field": "x"}]}}
    )
    assert refused.status_code == 422


HOSTILE_PATTERNS = [
    r"(?:[\w\s]{250}){4}x|(?:[\w\s]{249}){4}y",  # the reported one
    r"(?:(?:.{10}){10}){3}z",
    r"[^\n]{300}",
    r"(?:\pL{20}|\d{20}){9}",
    r".{125}x",
]


def _heavy_conditions(field: str = "message") -> dict:
    """50 rules that are each accepted and cost ~10 ms on 4 KiB of a/b text; none matches, all are run."""
    patterns = [rf"[\w\s]*a[\w\s]{{{n}}}c" for n in range(111, 161)]
    return {"match": "any", "rules": [{"field": field, "op": "matches", "value": p} for p in patterns]}


def _ab_text(size: int = 60_000) -> str:
    rng = random.Random(size)
    return "".join(rng.choice("ab") for _ in range(size))


def test_patterns_that_would_be_slow_to_run_are_refused_at_save_naming_the_rule(api):
    form = api.create_form("Leads", [*FIELDS, {"name": "message", "type": "textarea"}])
    hook = _hook(api, form["id"], conditions=BIG)
    for pattern in HOSTILE_PATTERNS:
        conditions = {
            "rules": [
                {"field": "budget", "op": "gt", "value": 1},
                {"match": "any", "rules": [{"field": "message", "op": "matches", "value": pattern}]},
            ]
        }
        created = api.post(
            f"/api/forms/{form['id']}/plugins",
            {"plugin_id": "webhook", "config": {"url": "https://example.com/"}, "conditions": conditions},
        )
        changed = api.patch(f"/api/plugin-configs/{hook['id']}", {"conditions": conditions})
        for resp in (created, changed):
            assert resp.status_code == 422, (pattern, resp.json)
            (says,) = resp.json["error"]["details"]["conditions"]["rules.1.rules.0.value"]
            assert "repetitions" in says or "too complex" in says
    assert [c["id"] for c in api.get(f"/api/forms/{form['id']}/plugins").json["items"]] == [hook["id"]]
    assert api.get(f"/api/plugin-configs/{hook['id']}").json["conditions"]["rules"] == BIG["rules"]


def test_a_condition_set_of_more_than_50_rules_is_refused_however_it_is_grouped(api):
    form = api.create_form("Leads", FIELDS)
    rule = {"field": "budget", "op": "gt", "value": 1}
    for rules in (
        [rule] * 51,
        [{"rules": [rule] * 30}, {"rules": [rule] * 21}],
        [{"rules": [rule] * 50}, rule],
    ):
        resp = api.post(
            f"/api/forms/{form['id']}/plugins",
            {
                "plugin_id": "webhook",
                "config": {"url": "https://example.com/"},
                "conditions": {"rules": rules},
            },
        )
        assert resp.status_code == 422
        assert "At most 50 rules" in resp.json["error"]["details"]["conditions"]["rules"][0]


def test_conditions_past_their_cpu_budget_skip_the_event_visibly_and_keep_the_intake_fast(app, api):
    form = api.create_form("Leads", [*FIELDS, {"name": "message", "type": "textarea"}])
    heavy = _hook(api, form["id"], conditions=_heavy_conditions())
    everyone = _hook(api, form["id"])
    started = time.thread_time()  # the test client runs the request on this thread
    resp = api.client.post(
        f"/api/forms/{form['id']}/submissions",
        json={"data": {"email": "a@example.com", "message": _ab_text()}},
    )
    spent = time.thread_time() - started
    assert resp.status_code == 202, resp.json
    assert _config_ids(api, resp.json["jobs"]) == {everyone["id"]}  # over budget: handled as not matching
    shown = api.get(f"/api/plugin-configs/{heavy['id']}").json
    assert (shown["skipped_events"], shown["conditions_over_budget"]) == (1, 1)
    assert api.get(f"/api/plugin-configs/{everyone['id']}").json["conditions_over_budget"] == 0
    page = ui_login(app).get(f"/admin/integrations/{heavy['id']}").text
    assert "<strong>1</strong> of them took too long to check" in page
    assert spent < EVENT_BUDGET + 1.0  # generous; today's main spends many seconds

    # an ordinary submission to the same integration is judged as usual
    cheap = api.client.post(
        f"/api/forms/{form['id']}/submissions", json={"data": {"email": "b@example.com", "message": "abc"}}
    )
    assert _config_ids(api, cheap.json["jobs"]) == {everyone["id"]}
    assert api.get(f"/api/plugin-configs/{heavy['id']}").json["conditions_over_budget"] == 1


def test_the_match_check_has_a_budget_per_submission_and_in_all_and_says_when_it_stopped(api):
    form = api.create_form("Leads", [*FIELDS, {"name": "message", "type": "textarea"}])
    submitted = 15
    for i in range(submitted):
        api.submit(form["id"], {"email": f"{i}@example.com", "message": _ab_text(20_000 + i)})
    started = time.thread_time()
    resp = api.post(f"/api/forms/{form['id']}/conditions/check", {"conditions": _heavy_conditions()})
    spent = time.thread_time() - started
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["complete"] is False and 0 < body["checked"] < submitted
    assert body["over_budget"] == body["checked"] and body["matched"] == 0
    assert all(item["over_budget"] and not item["matches"] for item in body["items"])
    assert "Stopped after" in body["message"] and "would be skipped" in body["message"]
    assert spent < CHECK_BUDGET + EVENT_BUDGET + 1.0

    light = api.post(f"/api/forms/{form['id']}/conditions/check", {"conditions": BIG}).json
    assert (light["checked"], light["complete"], light["over_budget"], light["message"]) == (
        submitted,
        True,
        0,
        None,
    )


def test_a_condition_set_saved_before_the_limits_still_runs_within_its_budget(app, api):
    form = api.create_form("Leads", [*FIELDS, {"name": "message", "type": "textarea"}])
    legacy = _hook(api, form["id"])
    rule = {"field": "message", "op": "matches", "value": HOSTILE_PATTERNS[0]}
    stored = {"match": "any", "rules": [{"match": "any", "rules": [rule] * 30}] * 2, "on_edit": "always"}
    with app.app_context():  # as saved before patterns and rule counts were limited
        PluginConfig._get_collection().update_one(
            {"_id": ObjectId(legacy["id"])}, {"$set": {"conditions": stored}}
        )
    heavy = api.client.post(
        f"/api/forms/{form['id']}/submissions",
        json={"data": {"email": "a@example.com", "message": _ab_text()}},
    )
    light = api.client.post(
        f"/api/forms/{form['id']}/submissions", json={"data": {"email": "b@example.com", "message": "hello"}}
    )
    assert (heavy.status_code, light.status_code) == (202, 202)
    assert heavy.json["jobs"] == light.json["jobs"] == []
    shown = api.get(f"/api/plugin-configs/{legacy['id']}").json
    assert (shown["skipped_events"], shown["conditions_over_budget"]) == (2, 1)
