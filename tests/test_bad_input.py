"""Bad input gets a 4xx with the JSON error shape and writes nothing (security finding 9)."""

from __future__ import annotations

import pytest

from app.api import schemas
from app.models import Form, IdempotencyKey, PluginConfig, Submission
from tests.conftest import ui_login

DEEP = "[" * 1000 + "]" * 1000
BAD_VALUES = {
    "nested 1,000 levels deep": DEEP,
    "nested 65 levels deep": "[" * 65 + "]" * 65,
    "a lone surrogate": '"\\ud800"',
    "a lone low surrogate": '"ab\\udfffcd"',
    "an integer beyond 64 bits": "123456789012345678901234567890",
    "a negative integer beyond 64 bits": "-9223372036854775809",
    "a 5,000-digit integer": "9" * 5000,
    "NaN": "NaN",
    "Infinity": "-Infinity",
    "a float beyond double range": "1e400",
}


@pytest.fixture
def form(api) -> dict:
    return api.create_form(
        "Contact",
        [{"name": "n", "type": "number"}, {"name": "t", "type": "text"}, {"name": "x", "type": "text"}],
    )


def _written() -> tuple[int, ...]:
    return (
        Submission.objects.count(),
        IdempotencyKey.objects.count(),
        Form.objects.count(),
        PluginConfig.objects.count(),
    )


def _send(api, method: str, path: str, body: str, key: str | None = None):
    headers = {**api.headers, "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    return api.client.open(path, method=method, data=body, headers=headers)


@pytest.mark.parametrize("what", list(BAD_VALUES))
def test_a_bad_value_anywhere_is_a_4xx_that_writes_nothing(api, form, what):
    value = BAD_VALUES[what]
    before = _written()
    fid = form["id"]
    bodies = [
        ("POST", f"/api/forms/{fid}/submissions", f'{{"data": {{"n": {value}}}}}', "key-1"),
        ("POST", f"/api/forms/{fid}/submissions", f'{{"data": {{"t": {value}}}}}', "key-2"),
        ("POST", f"/api/forms/{fid}/submissions", f'{{"data": {{"t": "ok", "x": [{value}]}}}}', None),
        ("POST", "/api/forms", f'{{"name": {value}}}', None),
        ("PATCH", f"/api/forms/{fid}", f'{{"name": "ok", "fields": {value}}}', None),
        (
            "POST",
            f"/api/forms/{fid}/plugins",
            f'{{"plugin_id": "webhook", "config": {{"url": {value}}}}}',
            None,
        ),
        ("POST", "/api/workspaces", f'{{"name": {value}}}', None),
    ]
    for method, path, body, key in bodies:
        resp = _send(api, method, path, body, key)
        assert 400 <= resp.status_code < 500, (path, body[:80], resp.status_code)
        assert set(resp.json["error"]) == {"code", "message", "details"}
    assert _written() == before
    assert Form.objects(id=fid).first().name == "Contact"


def test_a_lone_surrogate_in_a_key_is_refused(api, form):
    resp = _send(api, "POST", f"/api/forms/{form['id']}/submissions", '{"data": {"\\ud800": "x"}}', "k")
    assert resp.status_code == 400 and "surrogate" in resp.json["error"]["message"]
    assert Submission.objects.count() == IdempotencyKey.objects.count() == 0


def test_the_idempotency_key_is_free_again_after_a_refused_body(api, form):
    fid = form["id"]
    huge = _send(api, "POST", f"/api/forms/{fid}/submissions", '{"data": {"n": 1e400}}', "same-key")
    assert huge.status_code == 400
    ok = _send(api, "POST", f"/api/forms/{fid}/submissions", '{"data": {"n": 5}}', "same-key")
    assert ok.status_code == 202


ADMIN_QUERIES = [
    "page=99999999999999999999",
    "page=100001",
    "from=9999-12-31",
    "to=9999-12-31T23:59",
    "from=0001-01-01&to=99999-01-01",
    "from=1969-12-31",
    "view=attempts&from=2999-01-01",
]


@pytest.mark.parametrize("query", ADMIN_QUERIES)
def test_admin_lists_refuse_far_out_pages_and_dates_with_a_400_page(app, query):
    resp = ui_login(app).get(f"/admin/executions?{query}")
    assert resp.status_code == 400, resp.status_code
    assert "must be" in resp.get_data(as_text=True)


def test_a_form_field_without_a_name_is_refused_on_change_too(api, form):
    resp = api.patch(f"/api/forms/{form['id']}", {"fields": [{}]})
    assert resp.status_code == 422 and "name" in str(resp.json["error"]["details"])
    assert api.patch(f"/api/forms/{form['id']}", {"name": "Renamed"}).status_code == 200


def test_errors_about_list_items_of_several_kinds_are_reported(api, form):
    resp = api.patch(f"/api/forms/{form['id']}", {"name": "0", "fields": [[], []], "workspace_id": False})
    assert resp.status_code == 422
    assert {"0", "1"} <= set(resp.json["error"]["details"]["fields"])


@pytest.mark.parametrize(
    "change",
    [
        {"fields": [{"name": f"f{i}"} for i in range(301)]},
        {"fields": [{"name": "pick", "type": "select", "options": [str(i) for i in range(1001)]}]},
        {"fields": [{"name": "pick", "type": "select", "options": ["x" * 501]}]},
        {"allowed_origins": [f"https://{i}.example" for i in range(101)]},
    ],
    ids=["301 fields", "1,001 options", "a 501-character option", "101 origins"],
)
def test_a_form_too_large_to_check_every_submission_against_is_refused(api, form, change):
    resp = api.patch(f"/api/forms/{form['id']}", change)

    assert resp.status_code == 422, resp.json
    stored = api.get(f"/api/forms/{form['id']}").json
    assert ([f["name"] for f in stored["fields"]], stored["allowed_origins"]) == (["n", "t", "x"], [])


def test_a_large_forms_submissions_are_checked_but_its_schema_is_not_kept(api):
    """A schema takes about ten times its fields in memory: changing a large form over and over must not
    fill every process with schemas, and its submissions are still checked."""
    options = [f"option {i:03} " + "x" * 90 for i in range(300)]
    form = api.create_form("Large", [{"name": f"f{i}", "type": "select", "options": options} for i in range(2)])
    kept = schemas._kept_schema.cache_info().currsize

    assert api.post(f"/api/forms/{form['id']}/submissions", {"data": {"f0": options[7]}}).status_code == 202
    assert api.post(f"/api/forms/{form['id']}/submissions", {"data": {"f0": "nope"}}).status_code == 422
    assert schemas._kept_schema.cache_info().currsize == kept


BAD_NAMES = {
    "a line break": "Sales\nURGENT: https://evil.example/reset",
    "a carriage return and line feed": "Sales\r\nBcc: x@evil.example",
    "a tab": "Sales\tteam",
    "a NUL": "Sales\x00",
    "an escape sequence": "Sales\x1b[31m",
    "a C1 control": "Sales\x85next line",
    "a line separator": "Sales\u2028next",
    "a paragraph separator": "Sales\u2029next",
    "a right-to-left override": "Sales\u202eexe.fdp",
}


@pytest.mark.parametrize("what", list(BAD_NAMES))
def test_a_name_with_control_characters_is_refused_and_changes_nothing(api, form, what):
    name = BAD_NAMES[what]
    hook = api.add_plugin(form["id"], "webhook", {"url": "https://example.com/hook"}, name="Hook")
    workspace = api.post("/api/workspaces", {"name": "Team"}).json["id"]
    before = _written()
    attempts = [
        ("post", "/api/forms", {"name": name}),
        ("patch", f"/api/forms/{form['id']}", {"name": name}),
        ("post", f"/api/forms/{form['id']}/plugins",
         {"plugin_id": "webhook", "config": {"url": "https://example.com/"}, "name": name}),
        ("patch", f"/api/plugin-configs/{hook['id']}", {"name": name}),
        ("post", "/api/workspaces", {"name": name}),
        ("patch", f"/api/workspaces/{workspace}", {"name": name}),
        ("post", "/api/tokens", {"name": name}),
    ]
    for method, path, body in attempts:
        resp = getattr(api, method)(path, body)
        assert resp.status_code == 422, (path, resp.status_code)
        assert "line" in resp.json["error"]["details"]["name"][0]
    assert _written() == before
    assert api.get(f"/api/forms/{form['id']}").json["name"] == "Contact"
    assert api.get(f"/api/plugin-configs/{hook['id']}").json["name"] == "Hook"
    assert [w["name"] for w in api.get("/api/workspaces").json["items"] if w["id"] == workspace] == ["Team"]
    assert all(t["name"] != name for t in api.get("/api/tokens").json["items"])


def test_ordinary_names_in_any_script_are_accepted(api):
    for name in ("Ventes — Q3 “leads”", "Заявки", "商談フォーム", "طلبات", "Kontakt (DE) 🚀", "a = b + c"):
        assert api.post("/api/forms", {"name": name}).json["name"] == name
