"""SMS through Twilio: one text message per event to a recipient taken from the submission or fixed."""

from __future__ import annotations

from typing import Any

from app.contract import (
    ExecutionContext,
    ExecutionResult,
    Plugin,
    PluginError,
    RateLimit,
    TestResult,
    render,
    select_fields,
    template_context,
)
from plugins.twilio_sms.client import twilio_client, twilio_errors
from plugins.twilio_sms.config import DEFAULT_BODY, TwilioSmsConfig
from plugins.twilio_sms.sms import MAX_BODY, e164, measure

VERSION = "1.0.0"
SEND_TIMEOUT = 15.0
TEST_TIMEOUT = 10.0
FAILED = {"failed", "undelivered", "canceled"}


class TwilioSmsPlugin(Plugin):
    id = "twilio_sms"
    name = "SMS (Twilio)"
    version = VERSION
    description = "Send a text message for each submission, through your Twilio account."
    category = "notification"
    settings_keys = ("TWILIO_API_URL",)
    icon = "sms"
    triggers = ("form.submitted", "response.edited", "response.deleted")
    config_schema = TwilioSmsConfig
    rate_limit = RateLimit(calls=1, period=1.0)  # Twilio queues beyond 1 message/s per long-code sender

    def rate_limit_key(self, config: dict[str, Any]) -> str | None:
        return f"{config['account_sid']}:{config.get('from_number') or config.get('messaging_service_sid')}"

    def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        config = ctx.config
        context = template_context(ctx.payload, select_fields(ctx.payload, config.get("fields")))
        raw_to = render(config["to"], context, "text", "recipient").strip()
        try:
            to = e164(raw_to)
        except ValueError as exc:
            raise PluginError(f"Cannot send: the recipient {exc}", permanent=True) from None
        body = render(config.get("body") or DEFAULT_BODY, context, "text", "body").strip()
        length = measure(body)
        sent = {
            "to": to,
            "body_excerpt": body[:300],
            "encoding": length.encoding,
            "segments": length.segments,
        }
        if not body:
            raise PluginError("The message is empty: the body template rendered nothing.", permanent=True)
        if length.segments > config.get("max_segments", 4) or len(body) > MAX_BODY:
            raise PluginError(
                f"The message is {length.characters} characters, {length.segments} segments "
                f"({length.encoding}), over the limit of {config.get('max_segments', 4)}. "
                "Shorten the body template or select fewer fields.",
                permanent=True,
                response={"request": sent},
            )
        sender = (
            {"from_": config["from_number"]}
            if config.get("from_number")
            else {"messaging_service_sid": config["messaging_service_sid"]}
        )
        try:
            with twilio_errors(to):
                message = twilio_client(
                    config, self.settings, min(SEND_TIMEOUT, ctx.time_left)
                ).messages.create(to=to, body=body, **sender)
        except PluginError as err:
            err.response = {**err.response, "request": sent}
            raise
        response = {
            "sid": message.sid,
            "status": message.status,
            "num_segments": message.num_segments,
            "error_code": message.error_code,
        }
        if message.status in FAILED:
            raise PluginError(
                f"Twilio did not send the message ({message.status}, error {message.error_code}: "
                f"{message.error_message}).",
                permanent=True,
                response={**response, "request": sent},
            )
        warning = length.warning()
        if warning:
            response["warning"] = warning
        segments = f", {length.segments} segments" if length.segments > 1 else ""
        output = {"sid": message.sid, "status": message.status, "to": to}
        return ExecutionResult(
            f"SMS {message.sid} to {to}: {message.status}{segments}", sent, response, output
        )

    def test_connection(self, config: dict[str, Any]) -> TestResult:
        """Reads the account and, for a sender number, the account's numbers. Nothing is sent."""
        try:
            client = twilio_client(config, self.settings, TEST_TIMEOUT)
            with twilio_errors():
                account = client.api.v2010.accounts(config["account_sid"]).fetch()
                owned = (
                    client.incoming_phone_numbers.list(phone_number=config["from_number"], limit=1)
                    if config.get("from_number")
                    else None
                )
        except PluginError as err:
            return TestResult(False, err.message, {"status_code": err.response.get("status_code")})
        details = {"account": account.friendly_name, "status": account.status}
        if account.status != "active":
            return TestResult(
                False, f"The Twilio account {account.friendly_name!r} is {account.status}.", details
            )
        if owned is not None and not owned:
            return TestResult(
                False,
                f"{config['from_number']} is not a number of the account {account.friendly_name!r}. "
                "Use one of its numbers as the sender.",
                details,
            )
        return TestResult(True, f"Signed in to {account.friendly_name!r}. Nothing was sent.", details)
