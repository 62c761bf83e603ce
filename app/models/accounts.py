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


class LoginSession(Document):
    """A logged-in browser session, kept server-side so logout and the idle limit end it for good.

    The cookie carries only the clear ``sid``; the store keeps its SHA-256.
    """

    id = StringField(primary_key=True)  # SHA-256 of the cookie's sid
    user_id = StringField(required=True)
    created_at = FloatField(required=True)  # epoch seconds
    last_seen = FloatField(required=True)  # epoch seconds, written at most once a minute

    meta = {"collection": "login_sessions", "indexes": ["user_id"]}


class Invitation(Document):
    """An invitation to join a workspace; the link's token is shown once, only its SHA-256 is stored."""

    token_hash = StringField(required=True, unique=True)  # SHA-256 of the link's token
    workspace_id = StringField(required=True)
    email = StringField(required=True)  # lower-cased
    role = StringField(required=True, choices=[r.value for r in Role])
    invited_by = StringField(required=True)  # user id
    created_at = FloatField(required=True)  # epoch seconds
    expires_at = FloatField(required=True)  # epoch seconds
    used = BooleanField(default=False)  # accepted or revoked: the link no longer works
    claimed_by = StringField()  # the acceptance that spent it (so that only it can give the link back)

    meta = {"collection": "invitations", "indexes": ["workspace_id"]}

    def to_dict(self) -> dict:
        return {
            "id": str(self.id),
            "email": self.email,
            "role": self.role,
            "created_at": isoformat(self.created_at),
            "expires_at": isoformat(self.expires_at),
        }


ACCOUNT_MODELS = (Workspace, User, Membership, ApiToken, LoginSession, Invitation)
