"""Members (for workspace owners) and personal API tokens. Changes go through the JSON API."""

from __future__ import annotations

from flask import abort, render_template, request

from app.admin import access, bp
from app.auth import current_principal
from app.auth.accounts import workspace_members
from app.models import newest_first
from app.models.accounts import ApiToken, Role


@bp.get("/members")
def members():
    owned = [p for p in access.places() if p.is_owner]
    if not owned:
        abort(403)
    chosen = request.args.get("workspace") or owned[0].id
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
    )


@bp.get("/tokens")
def tokens():
    rows = ApiToken.objects(user_id=current_principal().user_id, revoked=False).order_by(*newest_first(ApiToken))
    return render_template("admin/tokens.html", rows=list(rows))
