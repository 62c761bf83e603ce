"""The public intake's web side: CORS per form, form-encoded bodies, and answers to browser posts.

Used by ``POST /api/forms/<form_id>/submissions`` (see docs/auth.md, "Public intake").
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, redirect, request, url_for
from marshmallow import ValidationError
from werkzeug.routing import BuildError

from app.api.schemas import storable
from app.errors import APIError, invalid
from app.services import services

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
INTAKE_RULE = "/api/forms/<form_id>/submissions"
TRUE_WORDS = {"on", "true", "1", "yes"}
FALSE_WORDS = {"off", "false", "0", "no"}


def is_form_post() -> bool:
    return request.mimetype in FORM_TYPES


def wants_html() -> bool:
    """A browser posting a form without JavaScript: form-encoded, and HTML preferred over JSON."""
    return is_form_post() and request.accept_mimetypes.best_match(["application/json", "text/html"]) == (
        "text/html"
    )


def form_data(form: dict) -> dict[str, Any]:
    """The submitted fields of a form-encoded body, shaped like JSON data.

    Empty values are dropped (an optional field left blank is absent); a checkbox's "on" becomes true;
    a name sent several times becomes a list.
    """
    kinds = {f["name"]: f.get("type") for f in form.get("fields", [])}
    data: dict[str, Any] = {}
    for name in request.form:
        values = [v for v in request.form.getlist(name) if v != ""]
        if not values:
            continue
        if (
            kinds.get(name) == "checkbox"
            and len(values) == 1
            and values[0].lower() in TRUE_WORDS | FALSE_WORDS
        ):
            data[name] = values[0].lower() in TRUE_WORDS
        else:
            data[name] = values[0] if len(values) == 1 else values
    try:
        storable(data)
    except ValidationError as err:
        raise invalid({"data": err.messages}) from None
    return data


def url_or_none(endpoint: str, **values: Any) -> str | None:
    """``url_for``, or None when the endpoint is not registered in this app (the hosted pages)."""
    try:
        return url_for(endpoint, **values)
    except BuildError:  # the hosted pages are not registered in this app
        return None


def accepted(form_id: str, body: dict) -> Response | tuple[Response, int]:
    """202 with the JSON body, or for a browser post a 303 to the thank-you page."""
    if wants_html() and (target := url_or_none("hosted.thanks", form_id=form_id)):
        return redirect(target, 303)
    return jsonify(body), 202


def add_cors_headers(response: Response) -> Response:
    """After a request to the intake: allow the form's listed origins (preflight included)."""
    rule = request.url_rule.rule if request.url_rule else None
    origin = request.headers.get("Origin")
    if rule != INTAKE_RULE or not origin or request.method not in ("POST", "OPTIONS"):
        return response
    doc = services().subscriptions.form(str((request.view_args or {}).get("form_id")))
    allowed = (doc or {}).get("allowed_origins") or []
    if "*" not in allowed and origin not in allowed:
        return response
    response.headers["Access-Control-Allow-Origin"] = "*" if "*" in allowed else origin
    response.headers.add("Vary", "Origin")
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = request.headers.get(
            "Access-Control-Request-Headers", "Content-Type"
        )
        response.headers["Access-Control-Max-Age"] = str(current_app.config.get("CORS_MAX_AGE", 600))
    return response


def trusted_caller(workspace_id: str | None) -> bool:
    """A member of the form's workspace (token or session) is not rate-limited like the public."""
    from app.auth import current_principal  # noqa: PLC0415

    try:
        principal = current_principal()
    except APIError:  # a bad token on the public endpoint: just the public
        return False
    return principal is not None and principal.role_in(workspace_id) is not None
