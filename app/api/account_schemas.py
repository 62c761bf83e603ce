"""Input schemas of the accounts API (marshmallow): login, workspaces, members, tokens."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from app.api.schemas import NAME
from app.models.accounts import Role

ROLES = [r.value for r in Role]


class Strict(Schema):
    class Meta:
        unknown = RAISE


class LoginIn(Strict):
    email = fields.String(required=True, validate=validate.Length(min=1, max=320))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class WorkspaceIn(Strict):
    name = fields.String(required=True, validate=NAME)


class InviteIn(Strict):
    email = fields.Email(required=True, validate=validate.Length(max=320))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class AcceptIn(Strict):
    password = fields.String(load_default=None, validate=validate.Length(max=1000))
    name = fields.String(load_default="", validate=validate.Length(max=200))


class MemberPatch(Strict):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class TokenIn(Strict):
    name = fields.String(required=True, validate=NAME)


class PasswordIn(Strict):
    current_password = fields.String(required=True, validate=validate.Length(max=1000))
    new_password = fields.String(required=True, validate=validate.Length(min=8, max=1000))
    revoke_tokens = fields.Boolean(load_default=False)
