"""The public submission endpoint: on/off switch, size limit, per-client rate limit, CORS per form,
and form posts from browsers without JavaScript."""

from __future__ import annotations

from app.models import Submission

FIELDS = [
    {"name": "email", "type": "email", "required": True},
    {"name": "age", "type": "number"},
    {"name": "news", "type": "checkbox"},
]


def test_a_closed_form_refuses_submissions_and_reopens(app, api):
    form = api.create_form("Contact", FIELDS)
    public = app.test_client()
    assert api.patch(f"/api/forms/{form['id']}", {"accepting_submissions": False}).status_code == 200
    closed = public.post(f"/api/forms/{form['id']}/submissions", json={"data": {"email": "a@example.com"}})
    assert closed.status_code == 403 and closed.json["error"]["code"] == "form_closed"
    assert Submission.objects.count() == 0
    api.patch(f"/api/forms/{form['id']}", {"accepting_submissions": True})
    ok = public.post(f"/api/forms/{form['id']}/submissions", json={"data": {"email": "a@example.com"}})
    assert ok.status_code == 202


def test_a_body_over_the_size_limit_is_413(make_app):
    app = make_app(MAX_CONTENT_LENGTH=2000)
    form_id = (
        app.test_client()
        .post("/api/forms", json={"name": "F"}, headers={"Authorization": "Bearer test-admin-token"})
        .json["id"]
    )
    resp = app.test_client().post(f"/api/forms/{form_id}/submissions", json={"data": {"x": "y" * 5000}})
    assert resp.status_code == 413
    assert resp.json["error"]["code"] == "request_entity_too_large"


def test_anonymous_clients_are_rate_limited_per_form(make_app):
    app = make_app(SUBMIT_RATE_LIMIT="2 per minute")
    admin = {"Authorization": "Bearer test-admin-token"}
    client = app.test_client()
    one = client.post("/api/forms", json={"name": "One"}, headers=admin).json["id"]
    two = client.post("/api/forms", json={"name": "Two"}, headers=admin).json["id"]
    codes = [client.post(f"/api/forms/{one}/submissions", json={"data": {}}).status_code for _ in range(3)]
    assert codes == [202, 202, 429]
    assert client.post(f"/api/forms/{two}/submissions", json={"data": {}}).status_code == 202
    other_client = client.post(
        f"/api/forms/{one}/submissions", json={"data": {}}, environ_base={"REMOTE_ADDR": "10.0.0.7"}
    )
    assert other_client.status_code == 202
    # the form's own members (token) are not limited like the public
    assert client.post(f"/api/forms/{one}/submissions", json={"data": {}}, headers=admin).status_code == 202


def test_cors_allows_only_the_forms_origins_preflight_included(app, api):
    form = api.create_form("Contact", FIELDS)
    api.patch(f"/api/forms/{form['id']}", {"allowed_origins": ["https://shop.example.com"]})
    url = f"/api/forms/{form['id']}/submissions"
    public = app.test_client()
    preflight = public.options(
        url,
        headers={
            "Origin": "https://shop.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert preflight.headers["Access-Control-Allow-Headers"] == "content-type"
    posted = public.post(
        url, json={"data": {"email": "a@example.com"}}, headers={"Origin": "https://shop.example.com"}
    )
    assert posted.status_code == 202
    assert posted.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    invalid = public.post(url, json={"data": {}}, headers={"Origin": "https://shop.example.com"})
    assert invalid.status_code == 422 and invalid.headers["Access-Control-Allow-Origin"]
    stranger = public.post(
        url, json={"data": {"email": "a@example.com"}}, headers={"Origin": "https://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in stranger.headers
    # the private endpoints never get CORS headers
    listed = api.get(url, headers={"Origin": "https://shop.example.com"})
    assert "Access-Control-Allow-Origin" not in listed.headers


def test_allowed_origins_are_validated(api):
    form = api.create_form("Contact")
    resp = api.patch(f"/api/forms/{form['id']}", {"allowed_origins": ["shop.example.com/path"]})
    assert resp.status_code == 422 and "allowed_origins" in resp.json["error"]["details"]
    assert api.patch(f"/api/forms/{form['id']}", {"allowed_origins": ["*"]}).json["allowed_origins"] == ["*"]


def test_a_form_encoded_post_is_read_like_json(app, api):
    form = api.create_form("Contact", FIELDS)
    resp = app.test_client().post(
        f"/api/forms/{form['id']}/submissions", data={"email": "a@example.com", "age": "", "news": "on"}
    )
    assert resp.status_code == 202
    sub = Submission.objects.get(id=resp.json["id"])
    assert sub.data == {"email": "a@example.com", "news": True}


def test_a_browser_post_is_redirected_to_the_thank_you_page(app, api):
    form = api.create_form("Contact", FIELDS)
    resp = app.test_client().post(
        f"/api/forms/{form['id']}/submissions",
        data={"email": "a@example.com"},
        headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
    )
    assert resp.status_code == 303
    assert resp.headers["Location"].endswith(f"/f/{form['id']}/thanks")
    assert Submission.objects.count() == 1


def test_a_browser_post_with_errors_gets_the_form_again_with_messages(app, api):
    form = api.create_form("Contact", FIELDS)
    resp = app.test_client().post(
        f"/api/forms/{form['id']}/submissions",
        data={"email": "not an email", "age": "12"},
        headers={"Accept": "text/html"},
    )
    assert resp.status_code == 422
    assert resp.mimetype == "text/html"
    assert "not an email" in resp.get_data(as_text=True)  # the value is kept
    assert "Please enter an email address for email, like name@example.com." in resp.get_data(as_text=True)
    assert Submission.objects.count() == 0


def test_the_submission_records_its_forms_workspace(api, people):
    form = api.create_form("Contact")
    sub = api.submit(form["id"], {"x": "y"})
    assert Submission.objects.get(id=sub["id"]).workspace_id == people.default_workspace()


def test_an_unreachable_rate_limit_store_does_not_stop_the_intake(make_app, caplog):
    app = make_app(RATELIMIT_STORAGE_URI="mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200")
    admin = {"Authorization": "Bearer test-admin-token"}
    client = app.test_client()
    form_id = client.post("/api/forms", json={"name": "F"}, headers=admin).json["id"]
    assert client.post(f"/api/forms/{form_id}/submissions", json={"data": {}}).status_code == 202
    assert "rate-limit storage unavailable" in caplog.text
