"""Personal API tokens of the caller: list, create (the clear value is shown once), revoke."""

from __future__ import annotations

from flask import jsonify

from app import auth
from app.api import bp
from app.api.account_schemas import TokenIn
from app.api.util import json_body, load
from app.errors import not_found
from app.models.accounts import ApiToken
from app.models.common import find_by_id, newest_first


@bp.get("/tokens")
def list_tokens():
    principal = auth.require_principal()
    rows = ApiToken.objects(user_id=principal.user_id).order_by(*newest_first(ApiToken))
    return jsonify({"items": [t.to_dict() for t in rows]})


@bp.post("/tokens")
def create_token():
    principal = auth.require_principal()
    name = load(TokenIn(), json_body())["name"]
    token, clear = auth.create_token(principal.user, name)
    return jsonify({**token.to_dict(), "token": clear}), 201


@bp.delete("/tokens/<token_id>")
def revoke_token(token_id: str):
    principal = auth.require_principal()
    token = find_by_id(ApiToken, token_id, user_id=principal.user_id)
    if token is None:
        raise not_found("token")
    if not token.revoked:
        auth.revoke_token(token)
    return "", 204
