"""SMS through Twilio (the twilio SDK) against a fake Twilio REST API on loopback, through the test kit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from marshmallow import ValidationError

from app.contract.testing import check_plugin, context, payload, run_plugin
from plugins.twilio_sms import TwilioSmsPlugin
from tests.plugins.peers.http import Reply
from tests.plugins.peers.twilio import AUTH_TOKEN, NUMBER, FakeTwilio


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    yield fake
    fake.close()


def plugin_for(twilio: FakeTwilio) -> TwilioSmsPlugin:
    return TwilioSmsPlugin({"ALLOW_PRIVATE_DESTINATIONS": True, "TWILIO_API_URL": twilio.api_url})


def sms(data: dict | None = None):
    return payload({"name": "Ada", "phone": "+44 (20) 7946-0018", **(data or {})})


def test_the_recipient_from_the_submission_gets_the_message_and_the_log_shows_its_status(twilio):
    attempt = run_plugin(plugin_for(twilio), twilio.config(body="Thanks {{ name }}!"), sms())

    [message] = twilio.messages
    assert (message["to"], message["from"], message["body"]) == ("+442079460018", NUMBER, "Thanks Ada!")
    assert attempt.summary == f"SMS {message['sid']} to +442079460018: queued"
    assert attempt.response["status"] == "queued" and attempt.response["sid"] == message["sid"]
    assert attempt.request["segments"] == 1 and attempt.request["encoding"] == "GSM-7"


def test_a_long_or_unicode_message_is_sent_with_a_segments_warning(twilio):
    attempt = run_plugin(plugin_for(twilio), twilio.config(body="Merci 😀 " + "x" * 100), sms())
    assert attempt.ok
    assert attempt.request["encoding"] == "UCS-2" and attempt.request["segments"] == 2
    assert "2 SMS segments (UCS-2 because of '😀')" in attempt.response["warning"]
    assert attempt.summary.endswith("queued, 2 segments")


def test_a_message_over_the_segment_limit_is_refused_before_sending(twilio):
    attempt = run_plugin(plugin_for(twilio), twilio.config(body="y" * 700, max_segments=3), sms())
    assert attempt.error_type == "permanent"
    assert "700 characters, 5 segments (GSM-7), over the limit of 3" in attempt.error_message
    assert twilio.messages == []


def test_a_recipient_that_is_not_e164_fails_permanently_and_says_the_format(twilio):
    attempt = run_plugin(plugin_for(twilio), twilio.config(), sms({"phone": "0207 946 0018"}))
    assert attempt.error_type == "permanent"
    assert "'0207 946 0018' is not a phone number in international format" in attempt.error_message
    assert twilio.server.requests == []


def test_a_fixed_recipient_is_checked_when_the_config_is_saved(twilio):
    with pytest.raises(ValidationError) as err:
        context(plugin_for(twilio), twilio.config(to="555-0100"))
    assert "international format" in str(err.value.messages["to"])


@pytest.mark.parametrize(
    ("setup", "error_type", "expected"),
    [
        (
            lambda t: t.config(auth_token="wrong-token-0123456789"),
            "permanent",
            "Twilio rejected the credentials",
        ),
        (lambda t: t.stopped.add("+442079460018") or t.config(), "permanent", "has replied STOP"),
        (lambda t: t.config(from_number="+14155550199"), "permanent", "The sender cannot send this message"),
        (
            lambda t: (
                t.script(Reply(429, {"code": 20429, "message": "Too Many Requests", "status": 429}))
                or t.config()
            ),
            "retryable",
            "Twilio answered 429",
        ),
        (
            lambda t: (
                t.script(Reply(503, {"code": 20500, "message": "Internal", "status": 503})) or t.config()
            ),
            "retryable",
            "will retry",
        ),
    ],
)
def test_each_twilio_error_is_classified_and_says_what_to_fix(twilio, setup, error_type, expected):
    attempt = run_plugin(plugin_for(twilio), setup(twilio), sms())
    assert (attempt.status, attempt.error_type) == ("failed", error_type)
    assert expected in attempt.error_message
    assert attempt.request["to"] == "+442079460018"


def test_test_connection_reads_the_account_and_its_number_and_sends_nothing(twilio):
    result = check_plugin(TwilioSmsPlugin, twilio.config(), twilio.server, {"TWILIO_API_URL": twilio.api_url})
    assert result.message == "Signed in to 'Acme'. Nothing was sent."
    assert twilio.messages == []


def test_test_connection_says_when_the_sender_is_not_the_accounts(twilio):
    result = plugin_for(twilio).test_connection(
        context(plugin_for(twilio), twilio.config(from_number="+14155550199")).config
    )
    assert not result.success and "+14155550199 is not a number of the account 'Acme'" in result.message


def test_the_auth_token_never_reaches_the_log_nor_does_the_sdks_chatter(twilio):
    twilio.stopped.add("+442079460018")
    failed = run_plugin(plugin_for(twilio), twilio.config(body="Private words"), sms())
    twilio.stopped.clear()
    sent = run_plugin(plugin_for(twilio), twilio.config(body="Private words"), sms())
    assert [a.status for a in (failed, sent)] == ["failed", "success"] and failed.leaked == sent.leaked == []
    logged = "\n".join(failed.logs + sent.logs)
    assert AUTH_TOKEN not in logged
    assert "Private words" not in logged and "442079460018" not in logged
    assert "Twilio API Request" not in logged  # a dozen INFO lines per message otherwise
