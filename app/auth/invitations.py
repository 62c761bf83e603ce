"""Invitations: the only way a member joins a workspace from the UI or the API.

An owner invites an email address with a role. The link's token is shown once to the inviter (and e-mailed
when the instance has SMTP settings); only its SHA-256 is stored. The link works once, until it expires.
Whoever opens it chooses the password of a new account, or proves the password of the existing one:
nobody ever sets another person's password, and the inviter learns nothing about the address.
"""

from __future__ import annotations

import contextlib
import secrets
import time

from app.auth import accounts
from app.auth.accounts import token_hash
from app.auth.addresses import checked_address
from app.errors import APIError
from app.models.accounts import Invitation, Membership, Role, User
from app.models.common import parse_object_id
from app.store_health import restart_store_deadline

INVITE_PREFIX = "fhi_"


def invalid_link() -> APIError:
    """The one answer for a link that is unknown, used, revoked or expired (they are not told apart)."""
    return APIError(
        404, "not_found", "This invitation link is not valid: it was used, revoked or has expired."
    )


def wrong_account(signed_in: str, invited: str) -> APIError:
    return APIError(
        409,
        "wrong_account",
        f"You are signed in as {signed_in}, and this invitation is for {invited}: an invitation is "
        "accepted only by its own address. If it is yours, sign out and open the link again.",
    )


def create(workspace_id: str, email: str, role: str, inviter: User, ttl: float) -> tuple[Invitation, str]:
    """A new invitation and the clear token of its link (never stored, never shown again)."""
    clear = INVITE_PREFIX + secrets.token_urlsafe(32)
    now = time.time()
    invitation = Invitation(
        token_hash=token_hash(clear),
        workspace_id=workspace_id,
        email=checked_address(email),
        role=Role(role).value,
        invited_by=str(inviter.id),
        created_at=now,
        expires_at=now + ttl,
    ).save(force_insert=True)
    return invitation, clear


def pending(workspace_id: str) -> list[Invitation]:
    """Invitations of a workspace that can still be accepted, newest first."""
    rows = Invitation.objects(workspace_id=workspace_id, used=False).order_by("-created_at")
    return [inv for inv in rows if inv.expires_at > time.time()]


def revoke(workspace_id: str, invitation_id: str) -> bool:
    """Withdraw a pending invitation; its link stops working at once."""
    oid = parse_object_id(invitation_id)
    return bool(
        oid and Invitation.objects(id=oid, workspace_id=workspace_id, used=False).update_one(set__used=True)
    )


def find(clear: str) -> Invitation:
    """The valid invitation of a link's token; 404 otherwise."""
    found = Invitation.objects(token_hash=token_hash(clear or "")).first()
    if found is None or found.used or found.expires_at <= time.time():
        raise invalid_link()
    return found


def _claim(invitation: Invitation, nonce: str) -> None:
    """Mark the invitation used, atomically: of two acceptances at once, one wins."""
    if not Invitation.objects(id=invitation.id, used=False, expires_at__gt=time.time()).update_one(
        set__used=True, set__claimed_by=nonce
    ):
        raise invalid_link()


def _give_back(invitation: Invitation, nonce: str) -> None:
    """Make the link usable again after a failed acceptance (only the one that spent it can)."""
    Invitation.objects(id=invitation.id, used=True, claimed_by=nonce).update_one(
        set__used=False, unset__claimed_by=True
    )


def _join(invitation: Invitation, user: User) -> None:
    """Spend the link and add the membership; the link is given back if anything fails meanwhile (a
    store that did not answer included), so that the invitee can try again."""
    nonce = secrets.token_hex(8)
    try:
        _claim(invitation, nonce)
        if Membership.objects(key=Membership.key_for(invitation.workspace_id, str(user.id))).first() is None:
            accounts.set_member(invitation.workspace_id, user, invitation.role)
    except APIError as err:
        if err.status != 404:  # (404: another acceptance spent it, or it expired or was revoked)
            _give_back(invitation, nonce)
        raise
    except BaseException:
        restart_store_deadline()  # (the failure may have spent it)
        with contextlib.suppress(Exception):  # the store may still not answer: it stays spent then
            _give_back(invitation, nonce)
        raise


def accept(
    clear: str,
    password: str | None,
    name: str = "",
    signed_in: User | None = None,
    caller: User | None = None,
) -> tuple[User, Invitation]:
    """Join the invitation's workspace.

    ``signed_in`` (a session) as the invited address needs nothing more. Otherwise: an address with an
    account proves its password; an address without one gets an account with the ``password`` chosen here,
    created before the link is spent (a failure then leaves the link usable: the retry proves that password).
    An account of another address (``caller``: by session or token) is refused and changes nothing: nobody
    makes, or uses up, the invited person's place. The password is hashed once, and the store work after it
    has a whole deadline again: a hash is CPU time, not the store's.
    """
    invitation = find(clear)
    caller = caller or signed_in
    if caller is not None and caller.email != invitation.email:
        raise wrong_account(caller.email, invitation.email)
    if signed_in is not None:
        user = signed_in
    else:
        found = accounts.user_by_email(invitation.email)
        if found is not None:
            if accounts.verify_password(invitation.email, password or "") is None:
                raise APIError(
                    401,
                    "invalid_credentials",
                    f"{invitation.email} has an account already: enter its password to accept.",
                )
            restart_store_deadline()
            user = found
        else:
            digest = accounts.hash_password(password or "")  # 422 for a short password: nothing written
            restart_store_deadline()
            user = accounts.create_user(invitation.email, name=name, password_hash=digest)
    _join(invitation, user)
    return user, invitation
