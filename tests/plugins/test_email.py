"""Email against a real SMTP server (aiosmtpd) with STARTTLS and AUTH on loopback."""

from __future__ import annotations

import pytest

from app.contract import PluginError
from plugins.email import EmailPlugin
from plugins.email import plugin as email_plugin
from plugins.email.config import MAX_RECIPIENTS
from tests.plugins.conftest import SETTINGS, payload, run_plugin
from tests.plugins.peers.smtp import SmtpPeer, free_port
from tests.support.wait import wait_until

plugin = EmailPlugin(SETTINGS)


def _many(count: int, prefix: str) -> str:
    return ", ".join(f"{prefix}{i}@example.com" for i in range(count))


# aiosmtpd warns about AUTH without STARTTLS even on implicit-TLS (SMTPS) servers, where it is safe.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def test_it_delivers_rendered_subject_recipients_from_fields_and_both_parts(smtp):
    config = smtp.config(
        to=["owner@example.com", "{{ data.email }}"],
        cc=["{{ name }} <team@example.com>"],
        bcc=["audit@example.com"],
        reply_to="{{ data.email }}",
        subject="Contact from {{ data.name }}",
    )
    data = {"name": "Ada", "email": "ada@example.com", "message": "Hello <b>there</b>\nsecond line"}

    result = run_plugin(plugin, config, payload(data))

    [got] = smtp.wait_for(1)
    msg = got.message
    assert msg["Subject"] == "Contact from Ada"
    assert msg["From"] == "Forms <forms@example.com>"
    assert msg["To"] == "owner@example.com, ada@example.com"
    assert msg["Cc"] == "Ada <team@example.com>"
    assert msg["Bcc"] is None
    assert msg["Reply-To"] == "ada@example.com"
    assert msg["Message-ID"] == "<msg_job1@example.com>"
    assert got.mail_from == "forms@example.com"
    assert sorted(got.rcpt_tos) == sorted(
        ["owner@example.com", "ada@example.com", "team@example.com", "audit@example.com"]
    )
    text = msg.get_body(("plain",)).get_content()
    assert "Your name: Ada\n" in text
    assert "E-mail: ada@example.com\n" in text
    assert "Message: Hello <b>there</b>\nsecond line" in text
    html = msg.get_body(("html",)).get_content()
    assert "<th" in html and "Your name" in html
    assert "Hello &lt;b&gt;there&lt;/b&gt;" in html  # submitted text is escaped in the HTML part
    assert smtp.logins == ["forms"]
    assert result.summary == "Sent to 4 recipients via 127.0.0.1"
    assert result.response["tls"] is True


def test_custom_body_without_html_body_is_sent_as_text_only(smtp):
    run_plugin(plugin, smtp.config(body="Hi {{ name }}, thanks."), payload())
    msg = smtp.wait_for(1)[0].message
    assert not msg.is_multipart()
    assert msg.get_content() == "Hi Ada, thanks.\n"


def test_html_body_template_is_autoescaped(smtp):
    config = smtp.config(html_body="<p>{{ message }}</p>", body="{{ message }}")
    run_plugin(plugin, config, payload({"message": "<script>x</script>"}))
    html = smtp.wait_for(1)[0].message.get_body(("html",)).get_content()
    assert "<p>&lt;script&gt;x&lt;/script&gt;</p>" in html


def test_a_rendered_recipient_that_is_not_an_address_is_skipped_and_reported(smtp):
    config = smtp.config(to=["owner@example.com", "{{ data.email }}"])
    result = run_plugin(plugin, config, payload({"email": "not an address"}))
    assert smtp.wait_for(1)[0].rcpt_tos == ["owner@example.com"]
    assert result.request["skipped"] == ["not an address"]
    assert "not addresses: 1" in result.summary


def test_no_valid_recipient_at_all_is_permanent(smtp):
    with pytest.raises(PluginError) as err:
        run_plugin(plugin, smtp.config(to=["{{ data.email }}"]), payload({"email": ""}))
    assert err.value.permanent
    assert "No recipient" in err.value.message
    assert smtp.commands == []


def test_wrong_password_is_a_permanent_failure_with_a_clear_message(smtp):
    with pytest.raises(PluginError) as err:
        run_plugin(plugin, smtp.config(password="wrong"), payload())
    assert err.value.permanent
    assert "rejected the username or password" in err.value.message
    assert "535" in err.value.message
    assert smtp.messages == []


def test_refused_recipients_are_permanent(smtp):
    smtp.rejected.add("owner@example.com")
    with pytest.raises(PluginError) as err:
        run_plugin(plugin, smtp.config(), payload())
    assert err.value.permanent
    assert "refused every recipient" in err.value.message
    assert "owner@example.com: 550" in err.value.message
    assert err.value.response["request"]["to"] == ["owner@example.com"]


def test_a_refused_recipient_among_others_is_reported_and_the_rest_delivered(smtp):
    smtp.rejected.add("gone@example.com")
    result = run_plugin(plugin, smtp.config(to=["owner@example.com", "gone@example.com"]), payload())
    assert smtp.wait_for(1)[0].rcpt_tos == ["owner@example.com"]
    assert result.response["refused"] == {"gone@example.com": "550 5.1.1 No such user here"}
    assert result.summary.startswith("Sent to 1 recipient via")


def test_a_server_that_is_down_is_retryable():
    config = {
        "host": "127.0.0.1",
        "port": free_port(),
        "from_address": "f@example.com",
        "to": ["o@example.com"],
    }
    with pytest.raises(PluginError) as err:
        run_plugin(plugin, config, payload())
    assert not err.value.permanent
    assert err.value.message.endswith("could not be reached: Connection refused.")


def test_an_untrusted_certificate_is_permanent(certs):
    peer = SmtpPeer(certs)  # the test CA is not trusted here
    try:
        with pytest.raises(PluginError) as err:
            run_plugin(plugin, peer.config(), payload())
        assert err.value.permanent
        assert "TLS certificate that is not trusted" in err.value.message
    finally:
        peer.close()


def test_implicit_tls(trust):
    peer = SmtpPeer(trust, security="ssl")
    try:
        run_plugin(plugin, peer.config(), payload())
        assert peer.wait_for(1)[0].rcpt_tos == ["owner@example.com"]
    finally:
        peer.close()


def test_test_connection_logs_in_and_sends_nothing(smtp):
    result = plugin.test_connection(plugin.config_schema().load(smtp.config()))
    assert result.success, result.message
    assert "logged in as forms" in result.message
    assert result.details["greeting"].startswith("mx.test")
    assert result.details["tls"] is True
    assert smtp.logins == ["forms"]
    assert smtp.commands == [] and smtp.messages == []


def test_test_connection_reports_a_wrong_password(smtp):
    result = plugin.test_connection(plugin.config_schema().load(smtp.config(password="nope")))
    assert not result.success
    assert "rejected the username or password" in result.message


def test_test_connection_explains_a_server_that_expects_tls_at_once(trust, monkeypatch):
    monkeypatch.setattr(email_plugin, "TEST_TIMEOUT", 1.0)  # the server waits for a TLS hello in vain
    peer = SmtpPeer(trust, security="ssl")
    try:
        result = plugin.test_connection(plugin.config_schema().load(peer.config(security="starttls")))
    finally:
        peer.close()
    assert not result.success
    assert "security matches the port" in result.message


def test_submission_is_emailed_through_the_engine(smtp, live_api):
    form = live_api.create_form(
        "Contact", [{"name": "email", "type": "email", "label": "E-mail"}, {"name": "message"}]
    )
    live_api.add_plugin(
        form["id"], "email", smtp.config(to=["{{ data.email }}"], subject="New: {{ message }}")
    )
    accepted = live_api.submit(form["id"], {"email": "ada@example.com", "message": "Hello"})

    [got] = smtp.wait_for(1)
    assert got.message["Subject"] == "New: Hello"
    assert got.rcpt_tos == ["ada@example.com"]
    job = wait_until(
        lambda: (j := live_api.job(accepted["jobs"][0]))["status"] == "completed" and j, what="job done"
    )
    assert job["logs"][0]["status"] == "success"
    assert job["logs"][0]["request"]["subject"] == "New: Hello"


def test_the_test_button_of_the_api_uses_the_same_code_path(smtp, api):
    resp = api.post("/api/plugins/email/test", {"config": smtp.config()})
    assert resp.status_code == 200
    assert resp.json["success"] is True, resp.json
    assert smtp.logins == ["forms"] and smtp.messages == []


@pytest.mark.parametrize(
    ("to", "data"),
    [
        (["{{ data.email }}"], {"email": ", ".join(f"user{i}@example.com" for i in range(500))}),
        (["{% for i in range(500) %}u{{ i }}@example.com,{% endfor %}"], {}),
        (["{{ data.email }}", "{{ data.message }}"], {"email": "a@example.com", "message": _many(50, "b")}),
    ],
    ids=["one-field-with-500-addresses", "a-loop", "two-templates-together"],
)
def test_the_recipient_cap_counts_rendered_addresses(smtp, to, data):
    with pytest.raises(PluginError) as err:
        run_plugin(plugin, smtp.config(to=to), payload(data))
    assert err.value.permanent and f"at most {MAX_RECIPIENTS}" in err.value.message
    assert "RCPT" not in smtp.commands and smtp.messages == []


def test_rendered_recipients_up_to_the_cap_are_sent(smtp):
    config = smtp.config(to=["{{ data.email }}"], cc=["{{ data.message }}"])
    run_plugin(plugin, config, payload({"email": _many(25, "a"), "message": _many(25, "b")}))
    assert len(smtp.wait_for(1)[0].rcpt_tos) == MAX_RECIPIENTS
