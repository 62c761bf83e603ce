"""Every installed plugin's settings page renders an input for each setting (Flask test client)."""

from __future__ import annotations

import re

from app.services import services


def test_every_plugin_gets_a_settings_form_with_a_labelled_input_per_setting(app, api):
    form = api.create_form("Contact", [{"name": "email", "type": "email"}])
    client = app.test_client()
    with app.app_context():
        described = {p["id"]: p for p in services().plugins.describe_all()}
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
        properties = plugin["config_schema"]["properties"]
        settable = [name for name, prop in properties.items() if not prop.get("readOnly")]  # set by Formhooks
        for name in settable:
            assert f'data-name="config.{name}"' in page.text, f"{plugin_id}: no input for {name}"
        for name in set(properties) - set(settable):
            assert f'data-name="config.{name}"' not in page.text, f"{plugin_id}: {name} is not for editing"
        for secret in set(plugin["secret_fields"]) & set(settable):
            assert re.search(rf'id="f-config-{secret}" type="password"[^>]*value=""', page.text), secret
