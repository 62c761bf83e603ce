"""Workspaces and their members. Members read; owners rename, delete and manage members."""

from __future__ import annotations

from flask import jsonify

from app import auth
from app.api import bp
from app.api.account_schemas import MemberPatch, WorkspaceIn
from app.api.scope import OWN, READ
from app.api.session_views import workspaces_of
from app.api.util import json_body, load
from app.auth.accounts import workspace_members
from app.auth.locks import held
from app.errors import APIError, not_found
from app.models import Form, find_by_id
from app.models.accounts import Membership, Role, User, Workspace


def _workspace(workspace_id: str, role: str = READ) -> tuple[Workspace, str]:
    principal = auth.require_role(workspace_id, role, "workspace")
    ws = find_by_id(Workspace, workspace_id)
    if ws is None:
        raise not_found("workspace")
    return ws, principal.memberships[workspace_id]


def owned_workspace(workspace_id: str) -> Workspace:
    """The workspace when the caller owns it (404 outside it, 403 below owner)."""
    return _workspace(workspace_id, OWN)[0]


def _member_json(membership: Membership, user: User) -> dict:
    return {"user": user.to_dict(), "role": membership.role}


def _membership(workspace_id: str, user_id: str) -> Membership:
    found = Membership.objects(key=Membership.key_for(workspace_id, user_id)).first()
    if found is None:
        raise not_found("member")
    return found


def _keep_an_owner(workspace_id: str, membership: Membership) -> None:
    """409 when ``membership`` is the workspace's last owner (it would be left without one)."""
    if membership.role != Role.OWNER.value:
        return
    owners = Membership.objects(workspace_id=workspace_id, role=Role.OWNER.value).only("id")
    if len(owners) <= 1:
        raise APIError(409, "conflict", "A workspace needs an owner; make someone else owner first.")


def _still_owner(workspace_id: str) -> None:
    """403 when the caller stopped being an owner since the request began (demoted meanwhile)."""
    caller = auth.require_principal().user_id
    now = Membership.objects(key=Membership.key_for(workspace_id, caller)).only("role").first()
    if now is None or now.role != Role.OWNER.value:
        raise APIError(403, "forbidden", "You are no longer an owner of this workspace.")


@bp.get("/workspaces")
def list_workspaces():
    return jsonify({"items": workspaces_of(auth.require_principal().memberships)})


@bp.post("/workspaces")
def create_workspace():
    """A new workspace; its creator is its owner."""
    principal = auth.require_principal()
    data = load(WorkspaceIn(), json_body())
    ws = auth.create_workspace(data["name"], principal.user)
    return jsonify(ws.to_dict(Role.OWNER.value)), 201


@bp.get("/workspaces/<workspace_id>")
def get_workspace(workspace_id: str):
    ws, role = _workspace(workspace_id)
    return jsonify(ws.to_dict(role))


@bp.patch("/workspaces/<workspace_id>")
def rename_workspace(workspace_id: str):
    ws, role = _workspace(workspace_id, OWN)
    ws.name = load(WorkspaceIn(), json_body())["name"]
    ws.save()
    return jsonify(ws.to_dict(role))


@bp.delete("/workspaces/<workspace_id>")
def delete_workspace(workspace_id: str):
    ws, _ = _workspace(workspace_id, OWN)
    if Form.objects(workspace_id=workspace_id).only("id").first() is not None:
        raise APIError(409, "conflict", "Delete or move the workspace's forms first.")
    Membership.objects(workspace_id=workspace_id).delete()
    ws.delete()
    return "", 204


@bp.get("/workspaces/<workspace_id>/members")
def list_members(workspace_id: str):
    _workspace(workspace_id)
    return jsonify({"items": [_member_json(m, u) for m, u in workspace_members(workspace_id)]})


@bp.patch("/workspaces/<workspace_id>/members/<user_id>")
def change_member(workspace_id: str, user_id: str):
    _workspace(workspace_id, OWN)
    role = load(MemberPatch(), json_body())["role"]
    with held(f"owners:{workspace_id}"):  # two owners demoting each other at once: one of them wins
        _still_owner(workspace_id)
        membership = _membership(workspace_id, user_id)
        if role != Role.OWNER.value:
            _keep_an_owner(workspace_id, membership)
        membership.update(set__role=role)
    membership.reload()
    return jsonify(_member_json(membership, User.objects(id=membership.user_id).first()))


@bp.delete("/workspaces/<workspace_id>/members/<user_id>")
def remove_member(workspace_id: str, user_id: str):
    """Owners remove anyone; any member may leave."""
    principal = auth.require_role(workspace_id, READ, "workspace")
    if user_id != principal.user_id:
        auth.require_role(workspace_id, OWN, "workspace")
    with held(f"owners:{workspace_id}"):
        if user_id != principal.user_id:
            _still_owner(workspace_id)
        membership = _membership(workspace_id, user_id)
        _keep_an_owner(workspace_id, membership)
        membership.delete()
    return "", 204
