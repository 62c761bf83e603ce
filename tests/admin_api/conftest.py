"""Fixtures for the accounts and access tests: users with roles in workspaces, and clients acting as them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask import Flask

from app import auth
from app.models.accounts import User, Workspace
from tests.conftest import Api

PASSWORD = "correct horse battery"


@dataclass
class Member:
    user: User
    token: str
    api: Api

    @property
    def id(self) -> str:
        return str(self.user.id)


class People:
    """Makes users, workspaces and memberships directly (as the CLI would)."""

    def __init__(self, app: Flask):
        self.app = app

    def workspace(self, name: str = "Team") -> str:
        owner = auth.first_owner(self.app)
        return str(Workspace(name=name, created_by=str(owner.id)).save().id)

    def member(self, email: str, roles: dict[str, str], password: str = PASSWORD) -> Member:
        with self.app.app_context():  # (the app's PASSWORD_HASH_METHOD: scrypt's 80 ms a user otherwise)
            user = auth.create_user(email, password)
        for workspace_id, role in roles.items():
            auth.set_member(workspace_id, user, role)
        _, clear = auth.create_token(user, "tests")
        return Member(user, clear, Api(self.app.test_client(), clear))

    def default_workspace(self) -> str:
        return auth.default_workspace_id(self.app)


@pytest.fixture
def people(app: Flask) -> People:
    return People(app)


def login(client, email: str, password: str = PASSWORD):
    return client.post("/api/auth/login", json={"email": email, "password": password})


def csrf_headers(client) -> dict[str, str]:
    """The X-CSRFToken header of the client's session."""
    return {"X-CSRFToken": client.get("/api/auth/me").json["csrf_token"]}
