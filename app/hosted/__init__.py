"""The hosted form page ``/f/<form_id>``: a form's fields as an accessible HTML form that posts to the
public submission endpoint and works without JavaScript, and its thank-you page."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from werkzeug.datastructures import ImmutableMultiDict

from app.api.intake import is_form_post, url_or_none, wants_html
from app.api.submissions import create_submission
from app.auth.csrf import csrf
from app.errors import APIError, api_error_response
from app.hosted import spam
from app.hosted.messages import plain
from app.models import Form, find_by_id
from app.services import services

log = logging.getLogger(__name__)
AGAIN = {
    spam.Verdict.TOO_FAST: "That was quick! Please check your answers, then send the form again.",
    spam.Verdict.EXPIRED: "This page was open for a long time; please check your answers and send it again.",
}

bp = Blueprint(
    "hosted",
    __name__,
    url_prefix="/f",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


def _form_or_404(form_id: str) -> Form:
    form = find_by_id(Form, form_id)
    if form is None:
        abort(404)
    return form


def form_page(
    form_id: str,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, Any] | None = None,
    status: int = 200,
    notice: str | None = None,
):
    """The hosted page, optionally re-shown with the values sent and the server's per-field errors.

    The public endpoint answers a browser's form post that failed validation with this (status 422).
    """
    form = _form_or_404(form_id)
    messages = {
        name: [msg] if isinstance(msg, str) else [str(m) for m in msg] for name, msg in (errors or {}).items()
    }
    html = render_template(
        "hosted/form.html",
        form=form,
        action=url_for("hosted.submit", form_id=str(form.id)),
        accepting=getattr(form, "accepting_submissions", True),
        values=dict(values or {}),
        errors=plain(messages, [{"name": f.name, "label": f.label, "type": f.type} for f in form.fields]),
        notice=notice,
        honeypot=spam.HONEYPOT,
        shown=(spam.SHOWN, spam.shown_stamp(current_app.config, str(form.id))),
    )
    return html, status


def browser_answer(form_id: str, err: APIError) -> Any | None:
    """The HTML answer to a failed browser post (None: answer JSON). 422 re-renders the form with errors;
    a closed form sends the browser back to the page, which says it is closed; a 503 (the store did not
    answer) says whether the answer was received, without reading the store."""
    if not wants_html():
        return None
    status, details = err.status, err.details
    if status == 503:
        stored = details.get("stored", "no") if isinstance(details, dict) else "no"
        html = current_app.jinja_env.get_template("hosted/unavailable.html").render(
            stored=stored, back=url_or_none("hosted.page", form_id=form_id)
        )
        return html, 503, err.headers
    if status == 422:
        errors = details.get("data", details) if isinstance(details, dict) else {}
        return form_page(form_id, values=request.form, errors=errors, status=422)
    if status == 403 and (target := url_or_none("hosted.show", form_id=form_id)):
        return redirect(target, 303)
    return None


@bp.get("/<form_id>")
def page(form_id: str):
    return form_page(form_id)


@bp.post("/<form_id>")
@csrf.exempt  # public, like the intake it hands over to: no session credential is needed or used
def submit(form_id: str):
    """The page posts to its own address, so after a validation error the address bar still shows the
    page (not the API's URL); the public intake does the work and answers with pages."""
    if is_form_post():
        verdict = spam.judge(current_app.config, form_id, request.form)
        # the intake sees the form's own fields only
        request.form = ImmutableMultiDict(
            [(k, v) for k, v in request.form.items(multi=True) if k not in spam.FIELDS]
        )
        if verdict is spam.Verdict.BOT:
            log.info("hosted form %s: a post refused as spam", form_id)
            return redirect(url_for("hosted.thanks", form_id=form_id), 303)
        if verdict is not spam.Verdict.HUMAN:
            return form_page(form_id, values=request.form, notice=AGAIN[verdict], status=422)
    return create_submission(form_id)


@bp.get("/<form_id>/thanks")
def thanks(form_id: str):
    return render_template("hosted/thanks.html", form=_form_or_404(form_id))


@bp.errorhandler(404)
def not_found(_err):
    return render_template("hosted/missing.html"), 404


@bp.errorhandler(APIError)
def api_error(err: APIError):
    """A 503 (the store did not answer, or is known to be down) is a page; other errors keep their JSON."""
    if err.status != 503 or (request.method == "POST" and not wants_html()):
        return api_error_response(err)
    stored = (err.details or {}).get("stored", "no") if request.method == "POST" else None
    form_id = (request.view_args or {}).get("form_id")
    back = url_for("hosted.page", form_id=form_id) if form_id and request.method == "POST" else None
    html = current_app.jinja_env.get_template("hosted/unavailable.html").render(stored=stored, back=back)
    return html, 503, err.headers


def favicon():
    return send_from_directory(bp.static_folder, "favicon.svg", mimetype="image/svg+xml")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    services(app).browser_answer = browser_answer
    app.add_url_rule("/favicon.ico", "favicon", favicon)
