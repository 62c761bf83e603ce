"""Webhook: POST the event as JSON, signed per Standard Webhooks."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from app.contract import (
    ExecutionContext,
    ExecutionResult,
    NoCredentialsInUrl,
    Plugin,
    PluginError,
    Secret,
    TestResult,
    shared_session,
)
from app.contract.http import raise_for_response, redact_headers, response_summary, send
from plugins.webhook import rotation
from plugins.webhook.rotation import DEFAULT_GRACE_HOURS
from plugins.webhook.signing import is_valid_secret, sign

VERSION = "1.0.0"
USER_AGENT = f"Formhooks-Webhook/{VERSION}"
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
RESERVED = {
    "content-type",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "host",
    "content-length",
}


class WebhookConfig(Schema):
    url = fields.Url(
        required=True,
        schemes={"http", "https"},
        require_tld=False,
        validate=NoCredentialsInUrl(
            "Use basic_username and basic_password, or auth_token: they are stored encrypted."
        ),
        metadata={"description": "Where to send"},
    )
    method = fields.String(
        load_default="POST",
        validate=validate.OneOf(["POST", "PUT", "PATCH"]),
        metadata={"description": "HTTP method", "x-section": "Advanced"},
    )
    headers = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        load_default=dict,
        metadata={"description": "Extra request headers", "x-widget": "keyvalue", "x-section": "Advanced"},
    )
    secret = Secret(
        bound_to=("url",),
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Signing secret (whsec_<base64> or any string)",
            "x-section": "Security",
            "x-generate": "whsec",
        },
    )
    secret_grace_hours = fields.Float(
        load_default=DEFAULT_GRACE_HOURS,
        validate=validate.Range(min=0, max=720),
        metadata={
            "description": "When the signing secret is replaced, deliveries are signed with both the old "
            "and the new one for this many hours (0: the old one stops at once)",
            "x-section": "Security",
            "x-unit": "hours",
        },
    )
    previous_secret = Secret(
        bound_to=("url",),  # set by rotation.on_save only, which ends a rotation when the URL changes
        load_default=None,
        allow_none=True,
        metadata={
            "description": "The replaced signing secret, during its grace period",
            "readOnly": True,
            "x-section": "Security",
        },
    )
    previous_secret_expires_at = fields.String(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "When the replaced signing secret stops signing",
            "readOnly": True,
            "format": "date-time",
            "x-section": "Security",
            "x-status": "Rotation in progress: the old signing secret still signs every delivery, next to "
            "the new one, until",
            "x-not-secret": True,  # a time, named after the secret it is about
        },
    )
    auth_token = Secret(
        bound_to=("url",),
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Sent as Authorization: Bearer <token> (stored encrypted)",
            "x-section": "Security",
        },
    )
    basic_username = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "HTTP Basic auth user", "x-section": "Security"},
    )
    basic_password = Secret(
        bound_to=("url", "basic_username"),  # another user name is another account
        load_default=None,
        allow_none=True,
        metadata={"description": "HTTP Basic auth password (stored encrypted)", "x-section": "Security"},
    )
    timeout = fields.Float(
        load_default=10.0,
        validate=validate.Range(min=0.5, max=60),
        metadata={
            "description": "How long to wait for an answer",
            "x-unit": "seconds",
            "x-section": "Advanced",
        },
    )

    @validates_schema
    def _one_auth(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("auth_token") and (data.get("basic_username") or data.get("basic_password")):
            raise ValidationError("Use either a bearer token or Basic auth, not both.", "auth_token")
        if data.get("basic_password") and not data.get("basic_username"):
            raise ValidationError("Basic auth needs a user name.", "basic_username")

    @validates("headers")
    def _headers(self, value: dict[str, str], **_: Any) -> None:
        for name in value:
            if not HEADER_NAME.match(name):
                raise ValidationError(f"{name!r} is not a valid header name.")
            if name.lower() == "authorization":
                raise ValidationError(
                    "Put credentials in auth_token or basic_username/basic_password: those are stored encrypted."
                )
            if name.lower() in RESERVED:
                raise ValidationError(f"{name!r} is set by Formhooks and cannot be overridden.")

    @validates("secret")
    def _secret(self, value: str | None, **_: Any) -> None:
        if value and not is_valid_secret(value):
            raise ValidationError("A secret starting with whsec_ must be followed by base64.")


def build_body(ctx: ExecutionContext) -> dict[str, Any]:
    p = ctx.payload
    return {
        "event": ctx.event,
        "form_id": p["form"]["id"],
        "form": p["form"],
        "submission_id": (p.get("submission") or {}).get("id"),
        "submission": p.get("submission"),
        "data": p.get("data"),
        "occurred_at": p["occurred_at"],
        "delivery_id": ctx.idempotency_key,
    }


class WebhookPlugin(Plugin):
    id = "webhook"
    name = "Webhook"
    version = VERSION
    description = "POST each event as signed JSON (Standard Webhooks) to a URL of yours."
    category = "developer"
    icon = "webhook"
    config_schema = WebhookConfig

    def _prepared(self, config: dict[str, Any], msg_id: str, body: dict[str, Any]) -> tuple[bytes, dict]:
        """The exact bytes and headers of a request (signed when a secret is set)."""
        raw = json.dumps(body, separators=(",", ":"), default=str).encode()
        ts = int(time.time())
        headers = {
            **config.get("headers", {}),
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
        }
        secrets = rotation.signing_secrets(config, rotation.utcnow())
        if secrets:  # during a rotation, one signature per secret, space-separated
            headers["webhook-signature"] = " ".join(sign(secret, msg_id, ts, raw) for secret in secrets)
        if config.get("auth_token"):
            headers["Authorization"] = f"Bearer {config['auth_token']}"
        return raw, headers

    def _request(self, config: dict[str, Any], msg_id: str, body: dict[str, Any], timeout: float):
        raw, headers = self._prepared(config, msg_id, body)
        basic = (
            (config["basic_username"], config.get("basic_password") or "")
            if config.get("basic_username")
            else None
        )
        session = shared_session(bool(self.settings.get("ALLOW_PRIVATE_DESTINATIONS")))
        resp = send(
            session,
            config.get("method", "POST"),
            config["url"],
            timeout,
            data=raw,
            headers=headers,
            auth=basic,
        )
        sent = {
            "method": config.get("method", "POST"),
            "url": config["url"],
            "headers": redact_headers(headers),
            "body_excerpt": raw[:1000].decode(errors="replace"),
        }
        return resp, sent

    def on_save(self, config: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
        return rotation.on_save(config, previous, rotation.utcnow())

    def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        timeout = min(float(ctx.config.get("timeout", 10)), ctx.time_left)
        resp, sent = self._request(ctx.config, ctx.idempotency_key, build_body(ctx), timeout)
        try:
            raise_for_response(resp)
        except PluginError as err:
            err.response = {**err.response, "request": sent}
            raise
        return ExecutionResult(
            summary=f"HTTP {resp.status_code}", request=sent, response=response_summary(resp)
        )

    def preview(self, ctx: ExecutionContext) -> dict[str, Any]:
        raw, headers = self._prepared(ctx.config, ctx.idempotency_key, build_body(ctx))
        return {
            "method": ctx.config.get("method", "POST"),
            "url": ctx.config["url"],
            "headers": redact_headers(headers),
            "body": json.loads(raw),
        }

    def test_connection(self, config: dict[str, Any]) -> TestResult:
        body = {"event": "test", "message": "Test event from Formhooks", "occurred_at": time.time()}
        started = time.monotonic()
        try:
            resp, _ = self._request(
                config, f"msg_test_{int(started * 1000)}", body, float(config.get("timeout", 10))
            )
            latency = int((time.monotonic() - started) * 1000)
            raise_for_response(resp)
        except PluginError as err:
            return TestResult(False, err.message, {"status_code": err.response.get("status_code")})
        return TestResult(
            True,
            f"{config['url']} answered HTTP {resp.status_code} in {latency} ms",
            {"status_code": resp.status_code, "latency_ms": latency},
        )
