"""Accounts: workspaces, users, their memberships (with a role) and personal API tokens.

References are strings (nx-27017 cannot match ObjectIds outside ``_id``); every lookup is single-field
equality on an indexed field.
"""

from __future__ import annotations

from enum import StrEnum

from mongoengine import BooleanField, DateTimeField, Document, FloatField, IntField, StringField

from app.models.common import isoformat, utcnow


class Role(StrEnum):
    """A member's role in a workspace; each includes the rights of the ones below it."""

    VIEWER = "viewer"
    EDITOR = "editor"
    OWNER = "owner"


ROLE_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.OWNER: 3}


class Workspace(Document):
    name = StringField(required=True)
    created_by = StringField(null=True)  # user id
    created_at = DateTimeField(default=utcnow)

    meta = {"collection": "workspaces"}

    def to_dict(self, role: str | None = None) -> dict:
        return {
            "id": str(self.id),
            "name": self.name,
            "role": role,
            "created_at": isoformat(self.created_at),
        }


class User(Document):
    email = StringField(required=True, unique=True)  # stored lower-cased
    name = StringField(default="")
    password_hash = StringField(null=True)  # werkzeug.security (scrypt); None: cannot log in
    active = BooleanField(default=True)
    # Bumped on password change or deactivation: ends every session that carries the old value.
    auth_version = IntField(default=1)
    created_at = DateTimeField(default=utcnow)

    meta = {"collection": "users"}

    def to_dict(self) -> dict:
        return {
            "id": str(self.id),
            "email": self.email,
            "name": self.name,
            "active": self.active,
            "created_at": isoformat(self.created_at),
        }


class Membership(Document):
    user_id = StringField(required=True)
    workspace_id = StringField(required=True)
    role = StringField(required=True, choices=[r.value for r in Role])
    # "<workspace_id>:<user_id>", unique: one membership per user and workspace (single-field index).
    key = StringField(required=True, unique=True)
    created_at = DateTimeField(default=utcnow)

    meta = {"collection": "memberships", "indexes": ["user_id", "workspace_id"]}

    @staticmethod
    def key_for(workspace_id: str, user_id: str) -> str:
        return f"{workspace_id}:{user_id}"


class ApiToken(Document):
    """A personal API token: the clear value is shown once; only its SHA-256 is stored."""

    user_id = StringField(required=True)
    name = StringField(required=True)
    token_hash = StringField(required=True, unique=True)
    prefix = StringField(required=True)  # the first characters, to recognise a token in a list
    created_at = DateTimeField(default=utcnow)
    last_used_at = FloatField(null=True)  # epoch seconds
    revoked = BooleanField(default=False)
    revoked_at = FloatField(null=True)

    meta = {"collection": "api_tokens", "indexes": ["user_id"]}

    def to_dict(self) -> dict:
        return {
            "id": str(self.id),
            "name": self.name,
            "prefix": self.prefix,
            "created_at": isoformat(self.created_at),
            "last_used_at": isoformat(self.last_used_at),
            "revoked": self.revoked,
            "revoked_at": isoformat(self.revoked_at),
        }


ACCOUNT_MODELS = (Workspace, User, Membership, ApiToken)
