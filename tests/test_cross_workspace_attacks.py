"""Attacks of workspace B on workspace A through the newer endpoints: each test is an attack that must fail."""

from __future__ import annotations

import threading

import pytest
from bson import ObjectId

from app.models import PluginJob, Submission
from app.services import services
from tests.admin_api.conftest import login, people  # noqa: F401
from tests.support.wait import wait_until


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


# -- the intake's per-process copy of forms and integrations (FORM_CACHE_SECONDS), attacked from B -------

ODD_BODIES = [
    ("application/json", b'{"data": {"n": 100000000000000000000000000000}}'),
    ("application/json", b'{"data": {"s": "\\ud800"}}'),
    ("application/json", b'{"data": {"\\udc80": 1}}'),
    ("application/json", b'{"data": {"n": NaN}}'),
    ("application/json", b'{"data": {"$where": 1}}'),
    ("application/json", b'{"data": {"a.b": 1}}'),
    ("application/json", b'{"data": {"a\\u0000": 1}}'),
    ("application/json", b'{"data": []}'),
    ("application/json", b'{"data": null}'),
    ("application/json", b'{"data": {}, "extra": 1}'),
    ("application/json", b"[1, 2]"),
    ("application/json", b'"x"'),
    ("application/json", b""),
    ("application/json", b"\xff\xfe"),
    ("application/json", b'{"data": ' + b'{"a": ' * 30 + b"1" + b"}" * 30 + b"}"),
    ("application/x-www-form-urlencoded", b"%24x=1"),
    ("application/x-www-form-urlencoded", b"a.b=1"),
    ("application/x-www-form-urlencoded", b"a%00=1"),
    ("application/x-www-form-urlencoded", b"a=%ED%A0%80&b=%FF&%FF=1"),
    ("application/x-www-form-urlencoded", b"&&==&a"),
    (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="$x"\r\n\r\n1\r\n--x--\r\n',
    ),
    ("multipart/form-data", b"no boundary"),
    ("text/plain", b"data=1"),
]


@pytest.mark.parametrize("content_type,body", ODD_BODIES)
def test_odd_bodies_posted_to_a_form_are_refused_or_accepted_never_500(app, two, content_type, body):
    a_form = two["form"]["id"]
    client = app.test_client()
    for form_id in (a_form, a_form.upper()):  # (twice: with the form read, then with it kept)
        resp = client.post(
            f"/api/forms/{form_id}/submissions", data=body, headers={"Content-Type": content_type}
        )
        assert resp.status_code in (202, 400, 413, 415, 422), (resp.status_code, resp.get_data(as_text=True))
    assert len(two["b"].api.submit(two["b_form"]["id"], {"email": "b@example.com"})["jobs"]) == 1


def test_bs_integrations_never_take_as_events_of_as_form(app, two):
    """The cache is keyed by form id only: B's configs (read for B's form) must not answer for A's form."""
    cache = services(app).subscriptions
    two["b"].api.submit(two["b_form"]["id"], {"email": "b@example.com"})
    a_jobs = two["b"].api.submit(two["form"]["id"], {"email": "x@example.com"})["jobs"]  # B posts to A's form
    a_jobs += two["b"].api.submit(two["form"]["id"].upper(), {"email": "y@example.com"})["jobs"]

    assert {PluginJob.objects.get(id=j).config_id for j in a_jobs} == {two["config"]["id"]}
    assert [str(c["_id"]) for c in cache.configs(two["form"]["id"])[0]] == [two["config"]["id"]]
    assert [str(c["_id"]) for c in cache.configs(two["b_form"]["id"])[0]] == [two["b_config"]["id"]]


def test_bs_cors_origins_never_answer_for_as_form(api, two):
    """B allows every origin on its own form; a preflight for A's form (any spelling of its id) still gets
    only A's allowed origins, whatever the intake has kept."""
    b_form = two["b"].api.patch(f"/api/forms/{two['b_form']['id']}", {"allowed_origins": ["*"]})
    assert b_form.status_code == 200, b_form.json
    api.patch(f"/api/forms/{two['form']['id']}", {"allowed_origins": ["https://a.example"]})
    evil = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    client = api.client
    assert (
        client.options(f"/api/forms/{two['b_form']['id']}/submissions", headers=evil).headers.get(
            "Access-Control-Allow-Origin"
        )
        == "*"
    )

    for form_id in (two["form"]["id"], two["form"]["id"].upper()):
        for _ in range(2):
            resp = client.options(f"/api/forms/{form_id}/submissions", headers=evil)
            assert "Access-Control-Allow-Origin" not in resp.headers
            post = client.post(f"/api/forms/{form_id}/submissions", json={"data": {}}, headers=evil)
            assert "Access-Control-Allow-Origin" not in post.headers
    good = client.options(
        f"/api/forms/{two['form']['id']}/submissions", headers={**evil, "Origin": "https://a.example"}
    )
    assert good.headers.get("Access-Control-Allow-Origin") == "https://a.example"


def test_a_deleted_integration_of_a_gets_no_job_from_the_very_next_submission(api, two):
    api.submit(two["form"]["id"], {"email": "a@example.com"})  # A's configs are kept now
    assert api.delete(f"/api/plugin-configs/{two['config']['id']}").status_code in (200, 204)

    assert two["b"].api.submit(two["form"]["id"], {"email": "b@example.com"})["jobs"] == []


def test_concurrent_submissions_of_a_and_b_in_one_group_commit_are_both_written(app, two):
    """A's and B's submissions go to the store in one insert; B's data is odd but storable (deep, empty
    and non-ASCII keys, a 200 kB string): both are accepted, written, and have their jobs."""
    b_free = two["b"].api.create_form("B free", [])
    two["b"].api.add_plugin(b_free["id"], "webhook", {"url": "http://127.0.0.1:9/b"})
    gi = services(app).inserts.submissions
    real = gi._collection
    writing, go = threading.Event(), threading.Event()

    class Gated:
        def insert_many(self, docs, **kwargs):
            if not writing.is_set():
                writing.set()
                assert go.wait(10)
            return real().insert_many(docs, **kwargs)

    gi._collection = Gated
    deep: dict = {"leaf": "x" * 200_000}
    for _ in range(17):  # (data.x and 18 levels below: within the intake's depth limit of 20)
        deep = {"": deep, "ключ": [deep] if len(str(deep)) < 1000 else 1}
    answers: dict[str, object] = {}

    def post(who: str, form_id: str, data: dict) -> None:
        answers[who] = app.test_client().post(f"/api/forms/{form_id}/submissions", json={"data": data})

    first = threading.Thread(target=post, args=("first", two["form"]["id"], {"email": "f@example.com"}))
    first.start()
    assert writing.wait(10)
    others = [
        threading.Thread(target=post, args=("a", two["form"]["id"], {"email": "a2@example.com"})),
        threading.Thread(target=post, args=("b", b_free["id"], {"x": deep})),
    ]
    for thread in others:
        thread.start()
    wait_until(lambda: len(gi.group._waiting) == 2 or len(answers) > 0, what="A and B queued for one write")
    assert not answers, {k: (v.status_code, v.get_data(as_text=True)[:300]) for k, v in answers.items()}
    go.set()
    for thread in [first, *others]:
        thread.join(10)
    gi._collection = real

    for who in ("first", "a", "b"):
        resp = answers[who]
        assert resp.status_code == 202, (who, resp.status_code, resp.get_data(as_text=True)[:300])
        assert Submission._get_collection().find_one({"_id": ObjectId(resp.json["id"])}) is not None, who
        assert len(resp.json["jobs"]) == 1
