"""Attacks of workspace B on workspace A through the newer endpoints: each test is an attack that must fail."""

from __future__ import annotations

import pytest

from tests.admin_api.conftest import login, people  # noqa: F401


@pytest.fixture
def two(api, people):  # noqa: F811  (the imported fixture)
    ws_a = people.default_workspace()
    form = api.create_form("A form", [{"name": "email", "type": "email"}])
    config = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/hook"})
    sub = api.submit(form["id"], {"email": "a@example.com"})
    ws_b = people.workspace("B")
    b = people.member("b@example.com", {ws_b: "owner"})
    b_form = b.api.create_form("B form", [{"name": "email", "type": "email"}])
    b_config = b.api.add_plugin(b_form["id"], "webhook", {"url": "http://127.0.0.1:9/b"})
    viewer = people.member("v@example.com", {ws_a: "viewer"})
    return dict(
        ws_a=ws_a,
        ws_b=ws_b,
        form=form,
        config=config,
        sub=sub,
        b=b,
        b_form=b_form,
        b_config=b_config,
        viewer=viewer,
    )


def test_replay_with_other_workspace_id_is_404(two):
    resp = two["b"].api.post("/api/replays", {"workspace_id": two["ws_a"], "statuses": ["failed"]})
    assert resp.status_code == 404


def test_replay_own_config_with_foreign_form_stays_in_own_workspace(two):
    resp = two["b"].api.post(
        "/api/replays",
        {"config_id": two["b_config"]["id"], "form_id": two["form"]["id"], "statuses": ["completed"]},
    )
    # Either refused, or scoped to B's workspace (its filter then matches none of A's jobs).
    assert resp.status_code in (404, 422) or resp.json["workspace_id"] == two["ws_b"]


def test_replay_foreign_config_with_own_form_is_404(two):
    resp = two["b"].api.post(
        "/api/replays",
        {"config_id": two["config"]["id"], "form_id": two["b_form"]["id"], "statuses": ["completed"]},
    )
    assert resp.status_code == 404


def test_viewer_cannot_start_replay_or_backfill(two):
    v = two["viewer"].api
    assert v.post("/api/replays", {"form_id": two["form"]["id"], "statuses": ["failed"]}).status_code == 403
    assert v.post(f"/api/plugin-configs/{two['config']['id']}/backfill", {}).status_code == 403


def test_operation_of_a_hidden_from_b(api, two):
    op = api.post("/api/replays", {"form_id": two["form"]["id"], "statuses": ["failed"]}).json
    b = two["b"].api
    assert b.get(f"/api/operations/{op['id']}").status_code == 404
    assert b.post(f"/api/operations/{op['id']}/cancel").status_code == 404
    assert all(o["id"] != op["id"] for o in b.get("/api/operations").json["items"])


def test_alert_channel_cannot_be_foreign_integration(two):
    resp = two["b"].api.put(
        f"/api/workspaces/{two['ws_b']}/alert-settings", {"channel_config_id": two["config"]["id"]}
    )
    assert resp.status_code == 422
    resp = two["b"].api.put(f"/api/workspaces/{two['ws_a']}/alert-settings", {"channel_config_id": None})
    assert resp.status_code == 404


def test_preview_with_foreign_submission_is_404(two):
    resp = two["b"].api.post(
        "/api/plugins/webhook/preview",
        {
            "form_id": two["b_form"]["id"],
            "config": {"url": "http://127.0.0.1:9/b"},
            "submission_id": two["sub"]["id"],
        },
    )
    assert resp.status_code == 404, resp.json


@pytest.mark.parametrize(
    "conditions",
    [
        {"match": "all", "rules": [{"field": 1, "op": "equals", "value": "x"}]},
        {"match": "all", "rules": [{"field": "email", "op": "gt", "value": float("nan")}]},
        {"match": "all", "rules": [{"field": "email", "op": "in", "value": ["x"] * 100000}]},
        {
            "match": "all",
            "rules": [
                {
                    "match": "any",
                    "rules": [{"match": "any", "rules": [{"field": "email", "op": "equals", "value": "x"}]}],
                }
            ],
        },
        {"match": "all", "rules": [{"field": "email", "op": "matches", "value": "(a+)+$" * 100}]},
        {"match": "all", "rules": [{"field": "email", "op": "equals", "value": {"$ne": 1}}]},
        {"match": "all", "rules": [{"field": "email", "op": "__class__", "value": "x"}]},
        [1, 2],
    ],
)
def test_bad_conditions_are_422_not_500(api, two, conditions):
    resp = api.client.post(
        f"/api/forms/{two['form']['id']}/conditions/check",
        data=__import__("json").dumps({"conditions": conditions}, allow_nan=True),
        headers={**api.headers, "Content-Type": "application/json"},
    )
    assert resp.status_code in (200, 400, 422), resp.json


def test_conditions_check_on_foreign_form_is_404(two):
    resp = two["b"].api.post(f"/api/forms/{two['form']['id']}/conditions/check", {"conditions": None})
    assert resp.status_code == 404


def test_preview_with_own_submission_works(two):
    """Control for the 404 above: the route exists and serves B's own submission."""
    own = two["b"].api.submit(two["b_form"]["id"], {"email": "b@example.com"})
    resp = two["b"].api.post(
        "/api/plugins/webhook/preview",
        {
            "form_id": two["b_form"]["id"],
            "config": {"url": "http://127.0.0.1:9/b"},
            "submission_id": own["id"],
        },
    )
    assert resp.status_code == 200, resp.json


def test_b_cannot_invite_itself_into_a(two):
    resp = two["b"].api.post(
        f"/api/workspaces/{two['ws_a']}/invitations", {"email": "b@example.com", "role": "owner"}
    )
    assert resp.status_code == 404


def test_admin_submission_page_and_export_hide_a_from_b(app, two):
    client = app.test_client()
    assert login(client, "b@example.com").status_code == 200
    two["b"].api.submit(two["b_form"]["id"], {"email": "b@example.com"})
    assert client.get(f"/admin/submissions/{two['sub']['id']}").status_code == 404
    assert client.get(f"/admin/forms/{two['form']['id']}/submissions").status_code == 404
    assert client.get(f"/admin/submissions/export.json?form_id={two['form']['id']}").status_code == 404
    everything = client.get("/admin/submissions/export.json")
    assert everything.status_code == 200
    body = everything.get_data(as_text=True)
    assert "b@example.com" in body and "a@example.com" not in body


@pytest.mark.parametrize(
    "op,value",
    [
        ("gt", 5),
        ("lte", "2020-01-01"),
        ("matches", "a.*"),
        ("contains", "x"),
        ("in", ["a", 1]),
        ("equals", None),
        ("is_empty", None),
        ("starts_with", "["),
    ],
)
def test_conditions_on_odd_submitted_values_do_not_500(api, op, value):
    form = api.create_form("Free", [])
    for data in (
        {"v": [1, {"a": 2}]},
        {"v": {"x": [None]}},
        {"v": True},
        {"v": 1e308},
        {"v": "x" * 200_000},
        {"v": None},
        {"v": -0.0},
    ):
        api.submit(form["id"], data)
    rules = {
        "match": "any",
        "rules": [{"field": "v", "op": op, **({} if value is None else {"value": value})}],
    }
    resp = api.post(f"/api/forms/{form['id']}/conditions/check", {"conditions": rules, "limit": 50})
    assert resp.status_code in (200, 422), resp.json


def test_b_cannot_list_or_read_a_alerts(two):
    b = two["b"].api
    assert b.get(f"/api/alerts?workspace_id={two['ws_a']}").status_code == 404
    assert b.get(f"/api/operations?workspace_id={two['ws_a']}").status_code == 404
    assert b.get(f"/api/workspaces/{two['ws_a']}/alert-settings").status_code == 404
