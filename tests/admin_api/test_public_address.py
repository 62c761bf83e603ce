"""Links in alerts without PUBLIC_URL: the address the first owner signs in at, not localhost; a start-up
warning says so; another account's sign-in (its Host header is its own to choose) does not move them."""

from __future__ import annotations

import logging
import time

import pytest
from bson import ObjectId

from app.engine import alerts
from app.models import PluginConfig
from tests.admin_api.conftest import PASSWORD, people  # noqa: F401
from tests.conftest import Api


def _alert_link(app) -> str:
    """The link of the alert raised for a fresh integration whose circuit just opened."""
    api = Api(app.test_client())
    form = api.create_form()
    hook = api.add_plugin(form["id"], "webhook", {"url": "https://example.com/hook"}, name="CRM hook")
    circuit = {"state": "open", "failures": 10, "failing_since": time.time() - 30, "opened_at": 1.0}
    with app.app_context():
        PluginConfig._get_collection().update_one(
            {"_id": ObjectId(hook["id"])}, {"$set": {"circuit": circuit}}
        )
        [alert] = alerts.check(app.config)
    assert alert.link.endswith(f"/admin/integrations/{hook['id']}")
    return alert.link.split("/admin/", 1)[0]


def _ui_login(app, email: str, password: str, base_url: str) -> None:
    client = app.test_client()
    form = {"email": email, "password": password}
    html_base = {"base_url": base_url}
    token = client.get("/admin/login", **html_base).get_data(as_text=True)
    token = token.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    resp = client.post(
        "/admin/login",
        data={**form, "csrf_token": token},
        headers={"Referer": f"{base_url}/admin/login"},  # checked over HTTPS
        **html_base,
    )
    assert resp.status_code == 302, resp.status_code


@pytest.mark.parametrize("base", ["https://forms.acme.test", "http://10.0.0.5:8080"])
def test_without_public_url_alert_links_use_the_address_the_first_owner_signs_in_at(make_app, base):
    app = make_app(PUBLIC_URL="")
    _ui_login(app, app.config["ADMIN_EMAIL"], app.config["ADMIN_PASSWORD"], base)
    assert _alert_link(app) == base


def test_another_accounts_sign_in_does_not_move_the_links(make_app, people):  # noqa: F811
    app = make_app(PUBLIC_URL="")
    _ui_login(app, app.config["ADMIN_EMAIL"], app.config["ADMIN_PASSWORD"], "https://forms.acme.test")
    with app.app_context():
        people.member("eve@example.com", {people.workspace("Eve's"): "owner"})
    _ui_login(app, "eve@example.com", PASSWORD, "https://phishing.example")
    assert _alert_link(app) == "https://forms.acme.test"


def test_public_url_wins_and_its_absence_is_said_at_start_up(make_app, caplog):
    with caplog.at_level(logging.WARNING, logger="app.public_address"):
        app = make_app(PUBLIC_URL="")
    assert "PUBLIC_URL is unset" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="app.public_address"):
        configured = make_app(PUBLIC_URL="https://forms.example.com/")
    assert "PUBLIC_URL is unset" not in caplog.text
    _ui_login(configured, app.config["ADMIN_EMAIL"], app.config["ADMIN_PASSWORD"], "https://other.test")
    assert _alert_link(configured) == "https://forms.example.com"
