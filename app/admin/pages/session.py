"""Log in and out, the login gate in front of every page, and the HTML error pages."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app.admin import access, bp
from app.auth import current_principal, login_user, logout_user, verify_password
from app.auth.limits import hit, refuse_if_spent
from app.auth.next_url import safe_next
from app.errors import APIError

OPEN_ENDPOINTS = {"admin.login", "admin.static", "admin.invite"}
NOT_FOUND_MESSAGE = "There is nothing here, or it is not in one of your workspaces."


@dataclass(frozen=True)
class Me:
    """The logged-in user as the layout shows them."""

    email: str
    places: list[access.Place]

    @property
    def owns_any(self) -> bool:
        return any(p.is_owner for p in self.places)


@bp.context_processor
def inject_me() -> dict:
    principal = current_principal()
    return {"me": Me(principal.user.email, access.places()) if principal else None}


@bp.before_request
def require_login():
    """Every page but the login page needs a logged-in user."""
    if request.endpoint in OPEN_ENDPOINTS or current_principal() is not None:
        return None
    return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))


def _safe_next(target: str | None) -> str:
    """Only admin paths on this site are followed after login; anything else goes to the dashboard."""
    return safe_next(target) or url_for("admin.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        if current_principal() is not None:
            return redirect(_safe_next(request.args.get("next")))
        return render_template("admin/login.html", email="", next=safe_next(request.args.get("next")) or "")
    email = request.form.get("email", "")
    try:
        refuse_if_spent("LOGIN_RATE_LIMIT", "login")  # the API login shares this budget; failures count
        user = verify_password(email, request.form.get("password", ""))
        if user is None:
            hit("LOGIN_RATE_LIMIT", "login")
    except APIError as err:
        return render_template(
            "admin/login.html", email=email, next=safe_next(request.form.get("next")) or "", error=err.message
        ), 429
    if user is None:
        error = "The email or password is not right."
        return render_template(
            "admin/login.html", email=email, next=safe_next(request.form.get("next")) or "", error=error
        ), 401
    login_user(user)
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout():
    logout_user()
    flash("You are logged out.")
    return redirect(url_for("admin.login"))


def _error_page(status: int, title: str, message: str):
    return render_template("admin/error.html", status=status, title=title, message=message), status


@bp.errorhandler(CSRFError)
def stale_form(_err: CSRFError):
    """A login or logout form older than the session (e.g. the tab stayed open): ask again, nicely."""
    if request.endpoint == "admin.login":
        error = "The page had expired; please log in again."
        return render_template(
            "admin/login.html", email=request.form.get("email", ""), next="", error=error
        ), 400
    return redirect(url_for("admin.login"))


@bp.errorhandler(404)
def not_found(_err: HTTPException):
    return _error_page(404, "Not found", NOT_FOUND_MESSAGE)


@bp.errorhandler(APIError)
def api_error(err: APIError):
    if err.status == 404:
        return not_found(err)
    if err.status == 503:
        return store_error_page(err)
    page, status = _error_page(err.status, err.code.replace("_", " ").capitalize(), err.message)
    return page, status, err.headers  # (a 429's Retry-After)


STORE_TITLES = {
    "store_timeout": "The database took too long",
    "store_unavailable": "The database is unreachable",
}


def store_error_page(err: APIError):
    """The page for a 503 (the store did not answer), with a link to try again. Rendered without the
    layout's context processors: they read the store, which has just failed this request."""
    retry = request.url if request.method == "GET" else url_for("admin.dashboard")
    html = current_app.jinja_env.get_template("admin/store_error.html").render(
        title=STORE_TITLES.get(err.code, "The database did not answer"), message=err.message, retry=retry
    )
    return html, 503, err.headers


@bp.errorhandler(403)
def forbidden(_err: HTTPException):
    return _error_page(403, "Not allowed", "Your role in this workspace does not allow this; ask an owner.")
