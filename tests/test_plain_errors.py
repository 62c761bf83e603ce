"""Test connection speaks plainly: low-level network failures (real ones, raised by requests on loopback and
by DNS for ``.invalid`` names) are said in words a person understands, by one mapping for every plugin, with
the technical text kept in ``details``."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import requests

from app.contract.plain_errors import explain, where_in_config
from tests.plugins.peers.smtp import free_port  # nothing listens there once it is closed
from tests.support.sink import Sink


@pytest.fixture
def silent() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    yield s.getsockname()[1]
    s.close()


def raised(call) -> BaseException:
    with pytest.raises(requests.RequestException) as info:
        call()
    return info.value


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("path", ["/", "/hook?x=1"])
def test_a_closed_port_is_nothing_listening_at_host_and_port(scheme, path):
    port = free_port()
    exc = raised(lambda: requests.get(f"{scheme}://127.0.0.1:{port}{path}", timeout=2))
    plain = explain(exc)
    assert plain is not None and plain.kind == "refused"
    assert plain.message.startswith(f"Nothing is listening at 127.0.0.1:{port} (connection refused).")
    assert "Errno" not in plain.message


@pytest.mark.parametrize("host", ["nothing-here.invalid", "forms.example.invalid", "x-y.invalid"])
def test_an_unknown_name_is_an_address_that_could_not_be_found(host):
    exc = raised(lambda: requests.get(f"http://{host}/hook", timeout=2))
    plain = explain(exc)
    assert plain is not None and plain.kind == "dns"
    assert plain.message.startswith(f"The address {host} could not be found (DNS).")
    assert "service not known" not in plain.message


def test_no_answer_in_time_is_a_timeout(silent):
    exc = raised(lambda: requests.get(f"http://127.0.0.1:{silent}/", timeout=0.3))
    plain = explain(exc)
    assert plain is not None and plain.kind == "timeout"
    assert plain.message.startswith(f"The server at 127.0.0.1:{silent} did not answer in time (timeout).")


def test_tls_to_a_server_without_tls_is_a_failed_secure_connection():
    sink = Sink()
    try:
        exc = raised(lambda: requests.get(sink.url.replace("http://", "https://"), timeout=2))
    finally:
        sink.close()
    plain = explain(exc)
    assert plain is not None and plain.kind == "tls"
    assert "secure connection (TLS)" in plain.message


@pytest.mark.parametrize(
    ("text", "kind", "words"),
    [
        (
            "Could not connect to http://10.0.0.9:8080/x: [Errno 111] Connection refused",
            "refused",
            "10.0.0.9:8080",
        ),
        (
            "Could not reach Slack at hooks.example.com: [Errno 111] Connection refused.",
            "refused",
            "hooks.example.com",
        ),
        (
            "The mail server mail.example.com:587 could not be reached: Connection refused.",
            "refused",
            "mail.example.com:587",
        ),
        ("Cannot resolve host 'mail.invalid': Name or service not known", "dns", "The address mail.invalid"),
        (
            "No answer from https://api.example.com/v1 within 10 s",
            "timeout",
            "api.example.com:443 did not answer",
        ),
        (
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate",
            "tls_certificate",
            "not trusted",
        ),
        ("ConnectionRefusedError in plugin", "refused", "the destination"),
    ],
)
def test_messages_plugins_already_wrote_are_said_plainly(text, kind, words):
    plain = explain(text, None)
    assert plain is not None and plain.kind == kind and words in plain.message


@pytest.mark.parametrize(
    "text",
    [
        "HTTP 504 Gateway Timeout",  # the destination answered: its status is the message
        "Slack rejected the token (invalid_auth). Paste a valid bot token (xoxb-...) of an installed app.",
        "The webhook is live.",
    ],
)
def test_other_failures_are_left_as_the_plugin_wrote_them(text):
    assert explain(text) is None


def test_where_a_config_connects_never_includes_a_urls_path():
    assert where_in_config({"host": "smtp.example.com", "port": 587}) == "smtp.example.com:587"
    hook = {"webhook_url": "https://discord.com/api/webhooks/1/very-secret-token"}
    assert where_in_config(hook) == "discord.com:443"
    assert where_in_config({"url": "http://user:pw@10.0.0.1:81/p"}) == "10.0.0.1:81"
    assert where_in_config({"channel": "#x"}) is None


def test_test_connection_of_every_plugin_says_it_plainly_and_keeps_the_detail(api):
    port = free_port()
    cases = [
        ("webhook", {"url": f"http://127.0.0.1:{port}/hook"}, f"127.0.0.1:{port}", "refused"),
        ("webhook", {"url": "http://nothing-here.invalid/hook"}, "nothing-here.invalid", "dns"),
        (
            "discord",
            {"webhook_url": f"http://127.0.0.1:{port}/api/webhooks/1/tok-secret"},
            f"127.0.0.1:{port}",
            "refused",
        ),
        ("teams", {"webhook_url": "https://teams.invalid/workflows/x"}, "teams.invalid", "dns"),
        (
            "email",
            {"host": "127.0.0.1", "port": port, "from_address": "a@example.com", "to": ["b@example.com"]},
            f"127.0.0.1:{port}",
            "refused",
        ),
    ]
    for plugin_id, config, where, kind in cases:
        answer = api.post(f"/api/plugins/{plugin_id}/test", {"config": config}).json
        assert answer["success"] is False, plugin_id
        assert where in answer["message"] and "Errno" not in answer["message"], answer
        assert answer["details"]["problem"] == kind
        assert answer["details"]["technical"] != answer["message"]
        assert "tok-secret" not in str(answer)


def test_slack_says_which_field_to_fill_for_either_way_to_connect(api):
    form = api.create_form()
    resp = api.post(f"/api/forms/{form['id']}/plugins", {"plugin_id": "slack", "config": {}})
    assert resp.status_code == 422
    config_errors = resp.json["error"]["details"]["config"]
    assert config_errors["webhook_url"] == ["Paste the incoming webhook URL Slack gave you."]
    assert config_errors["token"] == ["Paste the app's bot token (xoxb-...)."]
    both = {"webhook_url": "https://hooks.slack.com/services/T/B/x", "token": "xoxb-1", "channel": "#forms"}
    resp = api.post(f"/api/forms/{form['id']}/plugins", {"plugin_id": "slack", "config": both})
    assert "Use one way to connect" in resp.json["error"]["details"]["config"]["webhook_url"][0]
    channel_only = {"channel": "#forms"}  # the bot's way, without its token
    resp = api.post(f"/api/forms/{form['id']}/plugins", {"plugin_id": "slack", "config": channel_only})
    assert resp.json["error"]["details"]["config"] == {"token": ["Paste the app's bot token (xoxb-...)."]}
