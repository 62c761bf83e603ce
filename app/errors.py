"""One JSON error shape for every failure: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, jsonify
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    ExecutionTimeout,
    NetworkTimeout,
    ServerSelectionTimeoutError,
)
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# ExecutionTimeout: a request's store deadline (DB_TIMEOUT_MS) ran out before an operation could be sent.
STORE_DOWN = (ServerSelectionTimeoutError, AutoReconnect, ConnectionFailure, NetworkTimeout, ExecutionTimeout)


class APIError(Exception):
    """An error answered to the client as JSON with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, details: Any = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


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


def store_unavailable():
    """The 503 answered while the store is unreachable."""
    resp = error_response(503, "store_unavailable", "The database is unreachable; try again shortly.")
    resp.headers["Retry-After"] = "5"
    return resp


def init_app(app: Flask) -> None:
    @app.errorhandler(APIError)
    def _api_error(err: APIError):
        resp = error_response(err.status, err.code, err.message, err.details)
        resp.headers.update(getattr(err, "headers", None) or {})
        return resp

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        code = (err.name or "error").lower().replace(" ", "_")
        resp = error_response(err.code or 500, code, err.description or err.name)
        if getattr(err, "valid_methods", None):
            resp.headers["Allow"] = ", ".join(err.valid_methods)
        return resp

    def _store_down(err: Exception):
        health = current_app.extensions.get("formhooks.store_health")
        # ExecutionTimeout: the request's deadline was spent before the store was asked; that says
        # nothing about the store. Anything else opens its circuit (logged once per outage).
        if health is not None and not isinstance(err, ExecutionTimeout):
            health.failed(err)
        return store_unavailable()

    for exc_class in STORE_DOWN:
        app.register_error_handler(exc_class, _store_down)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "Internal error; it has been logged.")
