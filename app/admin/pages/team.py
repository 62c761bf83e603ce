"""Members (for workspace owners) and personal API tokens. Changes go through the JSON API."""

from __future__ import annotations

from flask import abort, current_app, render_template, request

from app.admin import access, bp
from app.admin.pages.account import current_place
from app.auth import current_principal, invitations
from app.auth.accounts import workspace_members
from app.models import DataRemoval, newest_first
from app.models.accounts import ApiToken, Role

REMOVALS_SHOWN = 20


@bp.get("/members")
def members():
    owned = [p for p in access.places() if p.is_owner]
    if not owned:
        abort(403)
    current = current_place()
    default = current.id if current and current.is_owner else owned[0].id
    chosen = request.args.get("workspace") or default
    place = next((p for p in owned if p.id == chosen), None)
    if place is None:
        abort(404)
    return render_template(
        "admin/members.html",
        place=place,
        owned=owned,
        rows=workspace_members(place.id),
        roles=[r.value for r in (Role.OWNER, Role.EDITOR, Role.VIEWER)],
        me_id=current_principal().user_id,
        invites=invitations.pending(place.id),
        mail_ready=bool(current_app.config["SMTP_URL"]),
        removals=list(DataRemoval.objects(workspace_id=place.id).order_by("-updated_at").limit(REMOVALS_SHOWN)),
    )


@bp.get("/tokens")
def tokens():
    rows = ApiToken.objects(user_id=current_principal().user_id, revoked=False).order_by(
        *newest_first(ApiToken)
    )
    return render_template("admin/tokens.html", rows=list(rows))
