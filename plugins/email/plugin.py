"""Email: one message per event through the form owner's SMTP server."""

from __future__ import annotations

from typing import Any

from app.contract import ExecutionContext, ExecutionResult, Plugin, PluginError, TestResult
from plugins.email import message
from plugins.email.config import EmailConfig
from plugins.email.smtp import reply_text, smtp_session

VERSION = "1.0.0"
SEND_TIMEOUT = 30.0
TEST_TIMEOUT = 15.0


class EmailPlugin(Plugin):
    id = "email"
    name = "Email"
    version = VERSION
    description = "Email each submission (text and an HTML table) through your SMTP server."
    category = "notification"
    icon = "mail"
    triggers = ("form.submitted", "response.edited", "response.deleted")
    config_schema = EmailConfig

    @property
    def allow_private(self) -> bool:
        return bool(self.settings.get("ALLOW_PRIVATE_DESTINATIONS"))

    def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        envelope = message.build(ctx.config, ctx.payload, ctx.idempotency_key)
        sent = envelope.summary()
        try:
            with smtp_session(ctx.config, min(SEND_TIMEOUT, ctx.time_left), self.allow_private) as session:
                refused = session.smtp.send_message(envelope.message, envelope.sender, envelope.recipients)
        except PluginError as err:
            err.response = {**err.response, "request": sent}
            raise
        refused_text = {addr: f"{code} {reply_text(msg)}" for addr, (code, msg) in refused.items()}
        delivered = len(envelope.recipients) - len(refused)
        summary = f"Sent to {delivered} recipient{'s' if delivered != 1 else ''} via {ctx.config['host']}"
        if refused or envelope.skipped:
            summary += f" (refused: {len(refused)}, not addresses: {len(envelope.skipped)})"
        return ExecutionResult(
            summary=summary,
            request=sent,
            response={**session.details(), "refused": refused_text},
        )

    def preview(self, ctx: ExecutionContext) -> dict[str, Any]:
        envelope = message.build(ctx.config, ctx.payload, ctx.idempotency_key)
        parts = {
            kind: part.get_content()
            for kind in ("plain", "html")
            if (part := envelope.message.get_body(preferencelist=(kind,))) is not None
        }
        return {
            **envelope.summary(),
            "recipients": envelope.recipients,
            "text": parts.get("plain"),
            "html": parts.get("html"),
        }

    def test_connection(self, config: dict[str, Any]) -> TestResult:
        try:
            with smtp_session(config, TEST_TIMEOUT, self.allow_private) as session:
                details = session.details()
        except PluginError as err:
            return TestResult(False, err.message, err.response)
        login = f"logged in as {config['username']}" if details["authenticated"] else "no login configured"
        tls = "TLS on" if details["tls"] else "no TLS"
        return TestResult(
            True,
            f"Connected to {config['host']}:{config.get('port', 587)} ({details['greeting']}); {tls}; "
            f"{login}. No message was sent.",
            details,
        )
