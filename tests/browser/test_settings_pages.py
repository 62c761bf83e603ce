"""Every installed plugin's settings page renders an input for each setting (Flask test client)."""

from __future__ import annotations

import re

from app.contract.registry import registry


def test_every_plugin_gets_a_settings_form_with_a_labelled_input_per_setting(app, api):
    form = api.create_form("Contact", [{"name": "email", "type": "email"}])
    client = app.test_client()
    with app.app_context():
        described = {p["id"]: p for p in registry().describe_all()}
    assert (
        client.post(
            "/api/auth/login",
            json={"email": app.config["ADMIN_EMAIL"], "password": app.config["ADMIN_PASSWORD"]},
        ).status_code
        == 200
    )
    for plugin_id, plugin in described.items():
        page = client.get(f"/admin/forms/{form['id']}/integrations/new/{plugin_id}")
        assert page.status_code == 200, plugin_id
        for name, prop in plugin["config_schema"]["properties"].items():
            if prop.get("readOnly"):  # set by the integration itself (e.g. a rotated-out secret), not typed
                continue
            assert f'data-name="config.{name}"' in page.text, f"{plugin_id}: no input for {name}"
        properties = plugin["config_schema"]["properties"]
        for secret in (s for s in plugin["secret_fields"] if not properties[s].get("readOnly")):
            assert re.search(rf'id="f-config-{secret}" type="password"[^>]*value=""', page.text), secret
