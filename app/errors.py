"""One JSON error shape for every failure: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

import mongoengine
from flask import Flask, current_app, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# What a 503 says when the store did not answer; app.store_health.store_fault tells which of the two an
# error (of any shape, wrapped ones included) is: the one test of "the store did not answer", used everywhere.
STORE_MESSAGES = {
    "unreachable": ("store_unavailable", "The database is unreachable; try again shortly.", 5),
    "slow": ("store_timeout", "The database took too long to answer this request; try again shortly.", 2),
}


class APIError(Exception):
    """An error answered to the client as JSON with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, details: Any = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.headers: dict[str, str] = {}


def not_found(what: str) -> APIError:
    return APIError(404, "not_found", f"{what} not found")


def invalid(details: Any, message: str = "Validation failed") -> APIError:
    return APIError(422, "validation_error", message, details)


def _string_keys(value: Any) -> Any:
    """Details with every key a string (marshmallow numbers list items: {0: ..., "_schema": ...})."""
    if isinstance(value, dict):
        return {str(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_string_keys(v) for v in value]
    return value


def error_response(status: int, code: str, message: str, details: Any = None):
    resp = jsonify({"error": {"code": code, "message": message, "details": _string_keys(details or {})}})
    resp.status_code = status
    return resp


def store_error(fault: str, message: str | None = None, details: Any = None) -> APIError:
    """The 503 for a request the store did not answer: "unreachable" (``store_unavailable``: it cannot be
    reached, every request is refused) or "slow" (``store_timeout``: this request alone took too long).
    Raised as an APIError so that pages answer it as a page (see app/admin/pages/session.py)."""
    code, standard, retry = STORE_MESSAGES[fault]
    err = APIError(503, code, message or standard, details)
    err.headers = {"Retry-After": str(retry)}
    return err


def api_error_response(err: APIError):
    resp = error_response(err.status, err.code, err.message, err.details)
    resp.headers.update(err.headers)
    return resp


def init_app(app: Flask) -> None:
    app.register_error_handler(APIError, api_error_response)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        code = (err.name or "error").lower().replace(" ", "_")
        resp = error_response(err.code or 500, code, err.description or err.name)
        if getattr(err, "valid_methods", None):
            resp.headers["Allow"] = ", ".join(err.valid_methods)
        return resp

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        # The store did not answer (raised as such, or wrapped: a bulk write's, mongoengine's): a 503,
        # answered by the handlers of APIError (pages answer with a page), never a 500.
        from app.store_health import as_store_error  # noqa: PLC0415  (it imports this module)

        if (store := as_store_error(err)) is not None:
            return current_app.handle_user_exception(store)
        if isinstance(err, mongoengine.ValidationError):  # what the API let through but a model refuses
            log.warning("a request's value was refused by the model: %s", err)  # (a key starting with $)
            refused = invalid(err.to_dict(), "A value in the request cannot be stored.")
            return current_app.handle_user_exception(refused)
        log.exception("unhandled error")
        return error_response(500, "internal_error", "Internal error; it has been logged.")
