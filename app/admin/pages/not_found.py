"""Unknown URLs outside the JSON API get an HTML 404 page with the navigation; the API (and the machine
endpoints) keep their JSON errors."""

from __future__ import annotations

from flask import Flask, render_template, request
from werkzeug.exceptions import NotFound

from app.admin import access
from app.admin.pages.session import NOT_FOUND_MESSAGE, Me
from app.auth import current_principal
from app.errors import error_response

MACHINE_PATHS = ("/api/", "/metrics", "/healthz", "/readyz")


def _wants_json() -> bool:
    path = request.path
    if path == "/api" or path.startswith(MACHINE_PATHS):
        return True
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def unknown_url(err: NotFound):
    if _wants_json():
        return error_response(404, "not_found", err.description)
    principal = current_principal()
    me = Me(principal.user.email, access.places()) if principal else None
    return render_template(
        "admin/error.html", status=404, title="Page not found", message=NOT_FOUND_MESSAGE, me=me
    ), 404


def init_app(app: Flask) -> None:
    app.register_error_handler(NotFound, unknown_url)
