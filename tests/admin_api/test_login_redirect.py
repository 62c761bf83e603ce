"""After logging in, the browser goes only to admin pages of this site (security finding 3)."""

from __future__ import annotations

from tests.conftest import login_form_token

DASHBOARD = "/admin/"

# (next, where the browser must land)
CASES = [
    ("/admin/forms", "/admin/forms"),
    ("/admin/executions?status=failed&page=2", "/admin/executions?status=failed&page=2"),
    ("/admin", "/admin"),
    ("/%09/evil.example/path", DASHBOARD),
    ("/\t/evil.example/path", DASHBOARD),
    ("//evil.example", DASHBOARD),
    ("///evil.example", DASHBOARD),
    ("/\\evil.example", DASHBOARD),
    ("\\\\evil.example", DASHBOARD),
    ("https://evil.example/admin/", DASHBOARD),
    ("javascript:alert(1)", DASHBOARD),
    ("/admin/\r\nSet-Cookie: x=1", "/admin/Set-Cookie:x=1"),
    ("/admin\r\n/evil", "/admin/evil"),
    ("/\r\n/evil.example", DASHBOARD),
    (" //evil.example", DASHBOARD),
    ("/admin//evil.example", DASHBOARD),
    ("/admin/../..//evil.example", DASHBOARD),
    ("/admin/%2e%2e/%2f%2fevil.example", DASHBOARD),
    ("/api/forms", DASHBOARD),
    ("/adminx/forms", DASHBOARD),
    ("", DASHBOARD),
]


def _landing(resp) -> str:
    assert resp.status_code in (302, 303), resp.status_code
    location = resp.headers["Location"]
    return location.removeprefix("http://localhost")


def test_login_follows_next_only_to_admin_pages_of_this_site(make_app):
    app = make_app(LOGIN_RATE_LIMIT="")
    client, anonymous = app.test_client(), app.test_client()
    form = {"email": "admin@example.com", "password": app.config["ADMIN_PASSWORD"]}
    for target, expected in CASES:
        form.update(next=target, csrf_token=login_form_token(anonymous))
        client.set_cookie("session", anonymous.get_cookie("session").value)
        assert _landing(client.post("/admin/login", data=form)) == expected, target
        # a logged-in user's GET goes the same way, and the login page never answers 500
        assert _landing(client.get("/admin/login", query_string={"next": target})) == expected, target
        assert anonymous.get("/admin/login", query_string={"next": target}).status_code == 200, target


def test_the_login_form_carries_only_a_safe_next(app):
    html = app.test_client().get("/admin/login?next=//evil.example").get_data(as_text=True)
    assert "evil.example" not in html
