"""The web layer's hooks around every request that concern the engine: a write empties this process's
copies of forms and integrations (engine/subscriptions.py) before its answer is sent."""

from __future__ import annotations

from flask import Flask, Response, request

from app.engine.subscriptions import forget

# Writes that change no form and no integration (submissions, jobs, checks and previews; the hosted page's
# post is the intake's): they keep the copies, or any workspace could, without limit, send every other
# workspace's next submission to the store.
KEEPS_COPIES = frozenset(
    {
        "api.create_submission",
        "hosted.submit",
        "api.edit_submission",
        "api.delete_submission",
        "api.check_conditions",
        "api.preview_config",
        "api.test_unsaved",
        "api.test_saved",
        "api.retry_job",
        "api.cancel_job",
    }
)


def init_app(app: Flask) -> None:
    """Empty the copies after every write request but those of KEEPS_COPIES, unless the write was refused
    with a 4xx: a refused request changes nothing, so another workspace's refused requests (or anyone's
    posts to no route) do not cost this process's intake a read."""

    @app.after_request
    def _writes_forget(response: Response) -> Response:
        write = request.method not in ("GET", "HEAD", "OPTIONS") and request.endpoint not in KEEPS_COPIES
        if write and not 400 <= response.status_code < 500:
            forget(app)
        return response

    @app.teardown_request
    def _failures_forget(exc: BaseException | None) -> None:
        if exc is not None:  # a write may have landed before it failed
            forget(app)
