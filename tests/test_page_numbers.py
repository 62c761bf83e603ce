"""One page-number rule for the API's lists and the admin pages: the same pages are served and the same
ones refused (a JSON 400 from the API, a 400 page from the admin), never a 500."""

from __future__ import annotations

import pytest

from app.paging import MAX_PAGE, PageError, page_number
from tests.conftest import ui_login

SERVED = {None: 1, "": 1, " ": 1, "1": 1, "2": 2, " 3 ": 3, "0": 1, "-5": 1, str(MAX_PAGE): MAX_PAGE}
REFUSED = ["abc", "1.5", "2e3", "0x10", str(MAX_PAGE + 1), "99999999999999999999", "9223372036854775808"]


@pytest.mark.parametrize(("raw", "page"), SERVED.items())
def test_a_page_number_is_read_one_way(raw, page):
    assert page_number(raw) == page


@pytest.mark.parametrize("raw", REFUSED)
def test_a_page_number_that_cannot_be_served_is_refused_with_a_reason(raw):
    with pytest.raises(PageError, match="page number must be"):
        page_number(raw)


@pytest.mark.parametrize("raw", REFUSED)
def test_the_api_and_the_admin_refuse_the_same_page_numbers(app, api, raw):
    for path in ("/api/forms", "/api/jobs", "/api/operations"):
        resp = api.get(f"{path}?page={raw}")
        assert resp.status_code == 400, (path, resp.status_code)
        assert (
            resp.json["error"]["code"] == "bad_request"
            and "page number must be" in resp.json["error"]["message"]
        )
    admin = ui_login(app)
    form = api.create_form("Contact", [{"name": "email", "type": "email"}])
    for path in ("/admin/executions", f"/admin/forms/{form['id']}/submissions", "/admin/submissions"):
        resp = admin.get(f"{path}?page={raw}")
        assert resp.status_code == 400, (path, resp.status_code)
        assert "page number must be" in resp.get_data(as_text=True)


@pytest.mark.parametrize("raw", ["2", str(MAX_PAGE)])
def test_the_api_and_the_admin_serve_the_same_page_numbers(app, api, raw):
    assert api.get(f"/api/forms?page={raw}").json["page"] == int(raw)
    form = api.create_form("Contact", [{"name": "email", "type": "email"}])
    admin = ui_login(app)
    for path in ("/admin/executions", f"/admin/forms/{form['id']}/submissions"):
        resp = admin.get(f"{path}?page={raw}")
        assert resp.status_code == 200, path
        if path == "/admin/executions" and raw == str(MAX_PAGE):  # (past the rows a list reaches: it says so)
            assert "reaches back at most" in resp.get_data(as_text=True)


def test_per_page_that_is_not_a_number_is_a_400(api):
    resp = api.get("/api/forms?per_page=many")
    assert resp.status_code == 400 and "per_page" in resp.json["error"]["message"]
