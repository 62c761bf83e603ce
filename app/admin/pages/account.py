"""Your account and workspaces: change your password, create, rename and switch workspaces, accept an
invitation. Changes go through the JSON API; switching only remembers your choice in the session."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, session, url_for

from app.admin import access, bp
from app.auth import current_principal, invitations
from app.errors import APIError
from app.models.accounts import Workspace
from app.models.common import find_by_id

CURRENT_KEY = "fh_workspace"


def current_place() -> access.Place | None:
    """The workspace the user switched to (their first one until they switch)."""
    places = access.places()
    chosen = session.get(CURRENT_KEY)
    return next((p for p in places if p.id == chosen), places[0] if places else None)


@bp.context_processor
def inject_current_place() -> dict:
    return {"current_place": current_place() if current_principal() is not None else None}


@bp.get("/account")
def account():
    return render_template("admin/account.html")


@bp.get("/workspaces")
def workspaces():
    return render_template("admin/workspaces.html", places=access.places(), current=current_place())


@bp.post("/workspaces/<workspace_id>/switch")
def switch_workspace(workspace_id: str):
    place = next((p for p in access.places() if p.id == workspace_id), None)
    if place is None:
        abort(404)
    session[CURRENT_KEY] = place.id
    flash(f"You are now working in {place.name}.")
    return redirect(url_for("admin.forms"))


@bp.get("/invite/<token>")
def invite(token: str):
    """The invitation link: join with your own password (or your account's), or in one click when signed in."""
    try:
        invitation = invitations.find(token)
    except APIError as err:
        return render_template("admin/error.html", status=404, title="Invitation", message=err.message), 404
    ws = find_by_id(Workspace, invitation.workspace_id)
    if ws is None:
        abort(404)
    principal = current_principal()
    return render_template(
        "admin/invite.html",
        token=token,
        invitation=invitation,
        workspace=ws,
        signed_in_as=principal.user.email if principal else None,
    )
