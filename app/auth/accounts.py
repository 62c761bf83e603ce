"""Account operations: users and passwords, workspaces and memberships, personal API tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
from functools import lru_cache

from flask import current_app, has_app_context
from mongoengine import NotUniqueError
from werkzeug.security import check_password_hash, generate_password_hash

from app.auth.addresses import checked_address
from app.errors import APIError
from app.models.accounts import ApiToken, LoginSession, Membership, Role, User, Workspace

TOKEN_PREFIX = "fhp_"
MIN_PASSWORD = 8
LAST_USED_RESOLUTION = 60.0  # seconds: last_used_at is written at most this often per token


def normalize_email(email: str) -> str:
    """The stored form of an address (for look-ups): as ``checked_address`` makes it, when it passes."""
    try:
        return checked_address(email)
    except APIError:
        return (email or "").strip().lower()  # no account has it; any form of it finds nothing


def hash_method() -> str:
    """``PASSWORD_HASH_METHOD``: werkzeug.security's KDF spec (scrypt by default)."""
    return current_app.config["PASSWORD_HASH_METHOD"] if has_app_context() else "scrypt"


def password_digest(password: str) -> str:
    """A salted hash of ``password`` with the configured KDF, without the length rule (the first owner's)."""
    return generate_password_hash(password, method=hash_method())


@lru_cache(maxsize=4)
def _dummy_hash(method: str) -> str:
    # Checked when the email is unknown, so a wrong email costs as much time as a wrong password.
    return generate_password_hash("formhooks-no-such-user", method=method)


def hash_password(password: str) -> str:
    """A salted hash of a password that keeps the length rule (422 otherwise)."""
    if len(password or "") < MIN_PASSWORD:
        raise APIError(
            422,
            "validation_error",
            "Validation failed",
            {"password": [f"Use at least {MIN_PASSWORD} characters."]},
        )
    return password_digest(password)


def create_user(
    email: str, password: str | None = None, name: str = "", password_hash: str | None = None
) -> User:
    """A new user; 409 when the email is taken. Without a password (nor ``password_hash``, from
    ``hash_password``) the user cannot log in (tokens only)."""
    if password is not None:
        password_hash = hash_password(password)
    user = User(email=checked_address(email), name=name or "", password_hash=password_hash)
    try:
        return user.save(force_insert=True)
    except NotUniqueError:
        raise APIError(409, "conflict", "A user with this email exists already.") from None


def user_by_email(email: str) -> User | None:
    return User.objects(email=normalize_email(email)).first()


def set_password(user: User, password: str) -> None:
    """Change a password; every session of the user ends (its auth_version changes, its records go)."""
    User.objects(id=user.id).update_one(set__password_hash=hash_password(password), inc__auth_version=1)
    LoginSession.objects(user_id=str(user.id)).delete()
    user.reload()


def verify_password(email: str, password: str) -> User | None:
    """The active user with this email and password, else None (in constant-ish time)."""
    user = user_by_email(email)
    stored = user.password_hash if user is not None and user.password_hash else _dummy_hash(hash_method())
    ok = check_password_hash(stored, password or "")
    if user is None or not user.password_hash or not user.active or not ok:
        return None
    method = hash_method()
    if user.password_hash.split("$", 1)[0] != _dummy_hash(method).split("$", 1)[0]:  # werkzeug's full spec
        # Made with an earlier PASSWORD_HASH_METHOD: its cost would tell this email from an unknown one
        # (checked against the configured method's dummy). Same password, so no session ends.
        user.password_hash = password_digest(password)
        User.objects(id=user.id, password_hash=stored).update_one(set__password_hash=user.password_hash)
    return user


def memberships_of(user_id: str) -> dict[str, str]:
    """{workspace_id: role} of a user."""
    return {
        m.workspace_id: m.role for m in Membership.objects(user_id=str(user_id)).only("workspace_id", "role")
    }


def create_workspace(name: str, owner: User) -> Workspace:
    """A workspace with ``owner`` as its first owner."""
    ws = Workspace(name=name, created_by=str(owner.id)).save()
    set_member(str(ws.id), owner, Role.OWNER)
    return ws


def set_member(workspace_id: str, user: User, role: str) -> Membership:
    """Add a member or change their role (idempotent)."""
    role = Role(role).value
    key = Membership.key_for(workspace_id, str(user.id))
    if not Membership.objects(key=key).update_one(set__role=role):
        try:
            Membership(user_id=str(user.id), workspace_id=workspace_id, role=role, key=key).save(
                force_insert=True
            )
        except NotUniqueError:  # added meanwhile by another request
            Membership.objects(key=key).update_one(set__role=role)
    return Membership.objects(key=key).first()


def workspace_members(workspace_id: str) -> list[tuple[Membership, User]]:
    rows = list(Membership.objects(workspace_id=workspace_id).order_by("created_at"))
    users = {str(u.id): u for u in User.objects(id__in=[m.user_id for m in rows])}
    return [(m, users[m.user_id]) for m in rows if m.user_id in users]


def token_hash(clear: str) -> str:
    return hashlib.sha256(clear.encode()).hexdigest()


def create_token(user: User, name: str) -> tuple[ApiToken, str]:
    """A new personal token and its clear value, which is never stored nor shown again."""
    clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=str(user.id), name=name, token_hash=token_hash(clear), prefix=clear[: len(TOKEN_PREFIX) + 6]
    ).save()
    return token, clear


def revoke_token(token: ApiToken) -> None:
    ApiToken.objects(id=token.id).update_one(set__revoked=True, set__revoked_at=time.time())
    token.reload()


def revoke_all_tokens(user: User) -> int:
    """Revoke every personal token of ``user``; returns how many were live."""
    return ApiToken.objects(user_id=str(user.id), revoked=False).update(
        set__revoked=True, set__revoked_at=time.time()
    )


def user_for_token(clear: str) -> tuple[User, ApiToken] | None:
    """The active user owning a valid, unrevoked token; records when the token was last used."""
    token = ApiToken.objects(token_hash=token_hash(clear)).first()
    if token is None or token.revoked:
        return None
    user = User.objects(id=token.user_id).first()
    if user is None or not user.active:
        return None
    now = time.time()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken._get_collection().update_one({"_id": token.id}, {"$set": {"last_used_at": now}})
        token.last_used_at = now
    return user, token
