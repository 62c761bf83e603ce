"""Invitations: owners invite by email (the answer is the same whoever the address belongs to); whoever
holds the link accepts it with their own password."""

from __future__ import annotations

from flask import current_app, jsonify, request, url_for

from app import auth
from app.api import bp
from app.api.account_schemas import AcceptIn, InviteIn
from app.api.util import json_body, load, public
from app.api.workspaces import owned_workspace
from app.auth import invitations
from app.auth.csrf import protect_api_request
from app.auth.invite_mail import send_invitation
from app.errors import APIError, not_found
from app.models.accounts import Membership, Workspace
from app.models.common import find_by_id


def _link(clear: str) -> str:
    base = current_app.config["PUBLIC_URL"].rstrip("/") or request.host_url.rstrip("/")
    return base + url_for("admin.invite", token=clear)


@bp.post("/workspaces/<workspace_id>/invitations")
@bp.post("/workspaces/<workspace_id>/members")
def invite_member(workspace_id: str):
    """Invite an email address with a role; the link is in this answer only (and in the e-mail)."""
    ws = owned_workspace(workspace_id)
    principal = auth.require_principal()
    data = load(InviteIn(), json_body())
    config = current_app.config
    invitation, clear = invitations.create(
        workspace_id, data["email"], data["role"], principal.user, config["INVITE_TTL"]
    )
    link = _link(clear)
    emailed = send_invitation(config, invitation.email, link, ws.name, principal.user.email)
    return jsonify({**invitation.to_dict(), "link": link, "emailed": emailed}), 201


@bp.get("/workspaces/<workspace_id>/invitations")
def list_invitations(workspace_id: str):
    owned_workspace(workspace_id)
    return jsonify({"items": [inv.to_dict() for inv in invitations.pending(workspace_id)]})


@bp.delete("/workspaces/<workspace_id>/invitations/<invitation_id>")
def revoke_invitation(workspace_id: str, invitation_id: str):
    owned_workspace(workspace_id)
    if not invitations.revoke(workspace_id, invitation_id):
        raise not_found("invitation")
    return "", 204


@bp.get("/invitations/<token>")
@public
@auth.rate_limited("LOGIN_RATE_LIMIT", scope="login")
def get_invitation(token: str):
    """What the link invites to (workspace, address, role), without saying whether the address has an account."""
    invitation = invitations.find(token)
    ws = find_by_id(Workspace, invitation.workspace_id)
    if ws is None:
        raise invitations.invalid_link()
    return jsonify({**invitation.to_dict(), "workspace": {"id": str(ws.id), "name": ws.name}})


@bp.post("/invitations/<token>/accept")
@public
@auth.rate_limited("LOGIN_RATE_LIMIT", scope="login")
def accept_invitation(token: str):
    """Accept: signed in as the invited address, or with a password (new account, or the existing one's)."""
    data = load(AcceptIn(), json_body())
    try:
        principal = auth.current_principal()
    except APIError:
        principal = None
    caller = principal.user if principal is not None else None
    signed_in = caller if principal is not None and principal.via == "session" else None
    if signed_in is not None:  # accepting by session alone: another site must not do it for them
        protect_api_request()
    user, invitation = invitations.accept(token, data["password"], data["name"], signed_in, caller)
    if signed_in is None:
        auth.login_user(user)
    membership = Membership.objects(key=Membership.key_for(invitation.workspace_id, str(user.id))).first()
    return jsonify({"user": user.to_dict(), "workspace_id": invitation.workspace_id, "role": membership.role})
