"""CLI: create-user, create-token, rotate-keys."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from app.models import PluginConfig, User
from app.secrets_box import SecretBox
from tests.admin_api.conftest import login

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_create_user_adds_a_member_who_can_log_in(app, people):
    result = app.test_cli_runner().invoke(
        args=[
            "create-user",
            "cli@example.com",
            "--password",
            "cli password",
            "--workspace",
            "default",
            "--role",
            "editor",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "editor" in result.output
    client = app.test_client()
    assert login(client, "cli@example.com", "cli password").status_code == 200
    assert client.get("/api/auth/me").json["workspaces"][0]["id"] == people.default_workspace()


def test_create_user_prompts_for_the_password_and_refuses_duplicates(app):
    runner = app.test_cli_runner()
    prompted = runner.invoke(args=["create-user", "p@example.com"], input="long enough\nlong enough\n")
    assert prompted.exit_code == 0, prompted.output
    assert login(app.test_client(), "p@example.com", "long enough").status_code == 200
    again = runner.invoke(args=["create-user", "P@example.com", "--password", "whatever123"])
    assert again.exit_code != 0 and "exists already" in again.output
    short = runner.invoke(args=["create-user", "s@example.com", "--password", "short"])
    assert short.exit_code != 0 and "at least 8" in short.output


def test_create_token_prints_a_working_token(app):
    runner = app.test_cli_runner()
    runner.invoke(
        args=["create-user", "t@example.com", "--password", "long enough", "--workspace", "default"]
    )
    result = runner.invoke(args=["create-token", "t@example.com", "--name", "deploy"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    me = app.test_client().get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json["user"]["email"] == "t@example.com"
    assert runner.invoke(args=["create-token", "nobody@example.com"]).exit_code != 0


def test_rotate_keys_reencrypts_every_secret_under_the_new_key(make_app):
    old_app = make_app(ENCRYPTION_KEYS=OLD)
    admin = old_app.test_client()
    headers = {"Authorization": "Bearer test-admin-token"}
    form = admin.post("/api/forms", json={"name": "F"}, headers=headers).json
    admin.post(
        f"/api/forms/{form['id']}/plugins",
        json={"plugin_id": "webhook", "config": {"url": "http://127.0.0.1:9/", "secret": "rotate-me-please"}},
        headers=headers,
    )
    rotating = make_app(ENCRYPTION_KEYS=f"{NEW},{OLD}")
    result = rotating.test_cli_runner().invoke(args=["rotate-keys"])
    assert result.exit_code == 0, result.output
    assert "Rotated 1 secret" in result.output
    stored = PluginConfig._get_collection().find_one({})["config"]["secret"]
    assert SecretBox([NEW]).decrypt(stored) == "rotate-me-please"  # the old key is no longer needed


def test_rotate_keys_moves_secrets_off_the_default_key(make_app):
    default_app = make_app()
    headers = {"Authorization": "Bearer test-admin-token"}
    client = default_app.test_client()
    form = client.post("/api/forms", json={"name": "F"}, headers=headers).json
    client.post(
        f"/api/forms/{form['id']}/plugins",
        json={"plugin_id": "webhook", "config": {"url": "http://127.0.0.1:9/", "secret": "from-default"}},
        headers=headers,
    )
    result = make_app(ENCRYPTION_KEYS=NEW).test_cli_runner().invoke(args=["rotate-keys"])
    assert result.exit_code == 0, result.output
    stored = PluginConfig._get_collection().find_one({})["config"]["secret"]
    assert SecretBox([NEW]).decrypt(stored) == "from-default"


def test_rotate_keys_needs_the_keys_setting(app):
    result = app.test_cli_runner().invoke(args=["rotate-keys"])
    assert result.exit_code != 0 and "ENCRYPTION_KEYS" in result.output


@pytest.mark.parametrize("address", ["ａｄｍｉｎ@example.com", "аdmin@example.com", "admin@exаmple.com"])
def test_create_user_refuses_a_lookalike_address(app, address):
    result = app.test_cli_runner().invoke(args=["create-user", address, "--password", "long enough"])
    assert result.exit_code != 0
    assert "could pass for another address" in result.output or "did you mean" in result.output
    assert User.objects.count() == 1  # the first owner only
