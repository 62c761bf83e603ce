"""Workspaces and their members. Members read; owners rename, delete and manage members."""

from __future__ import annotations

from flask import jsonify

from app import auth
from app.api import bp
from app.api.account_schemas import MemberIn, MemberPatch, WorkspaceIn
from app.api.scope import OWN, READ
from app.api.session_views import workspaces_of
from app.api.util import json_body, load
from app.auth.accounts import create_user, user_by_email, workspace_members
from app.errors import APIError, not_found
from app.models import Form, find_by_id
from app.models.accounts import Membership, Role, User, Workspace


def _workspace(workspace_id: str, role: str = READ) -> tuple[Workspace, str]:
    principal = auth.require_role(workspace_id, role, "workspace")
    ws = find_by_id(Workspace, workspace_id)
    if ws is None:
        raise not_found("workspace")
    return ws, principal.memberships[workspace_id]


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


@bp.post("/workspaces/<workspace_id>/members")
def add_member(workspace_id: str):
    """Add a user by email; an unknown email creates the user (with ``password`` when given)."""
    _workspace(workspace_id, OWN)
    data = load(MemberIn(), json_body())
    user = user_by_email(data["email"])
    created = user is None
    if created:
        user = create_user(data["email"], data["password"], data["name"])
    elif data["password"] is not None:
        raise APIError(
            422,
            "validation_error",
            "Validation failed",
            {"password": ["This user exists already; only they can change their password."]},
        )
    if Membership.objects(key=Membership.key_for(workspace_id, str(user.id))).first() is not None:
        raise APIError(409, "conflict", "This user is a member already; change their role instead.")
    membership = auth.set_member(workspace_id, user, data["role"])
    return jsonify({**_member_json(membership, user), "created": created}), 201


@bp.patch("/workspaces/<workspace_id>/members/<user_id>")
def change_member(workspace_id: str, user_id: str):
    _workspace(workspace_id, OWN)
    membership = _membership(workspace_id, user_id)
    role = load(MemberPatch(), json_body())["role"]
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
    membership = _membership(workspace_id, user_id)
    _keep_an_owner(workspace_id, membership)
    membership.delete()
    return "", 204
