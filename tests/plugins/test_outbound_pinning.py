"""Every outbound connection goes to an address that passed the check, and no redirect takes a request
(or its credentials) anywhere unchecked. ALLOW_PRIVATE_DESTINATIONS is off here; a test seam makes one
loopback address, 127.0.0.2, count as "the internet", so that real loopback peers can play both a public
destination and a private one (127.0.0.1)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import pytest
import requests

from app.contract import PluginError, check_destination, is_public_address, net
from app.contract.net import GuardedAdapter
from plugins.slack import SlackPlugin
from plugins.webhook import WebhookPlugin
from tests.plugins.conftest import payload, run_plugin
from tests.plugins.peers.http import FakeServer, Reply, Request
from tests.plugins.peers.slack import HOOK_PATH, TOKEN, FakeSlack

PUBLIC = "127.0.0.2"
GUARDED = {"ALLOW_PRIVATE_DESTINATIONS": False}
REBINDING_HOST = "hooks.rebinding.test"


@pytest.fixture
def public_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test seam: 127.0.0.2 is treated as globally routable; every other rule stays as it is."""
    real = net.is_public_address
    monkeypatch.setattr(net, "is_public_address", lambda ip: str(ip) == PUBLIC or real(ip))


class Recorder:
    """A private host (127.0.0.1) that records what reaches it: nothing should."""

    def __init__(self, port: int = 0) -> None:
        self.server = FakeServer(lambda req: Reply(200, "ok"), port=port)

    @property
    def requests(self) -> list[Request]:
        return self.server.requests

    def url(self, path: str = "/") -> str:
        return self.server.url + path


@pytest.fixture
def private() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.server.close()


@pytest.fixture
def public_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(host=PUBLIC)
    yield fake
    fake.close()


def redirect_to(location: str) -> Reply:
    return Reply(302, "", {"Location": location})


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_slack_webhook_redirect_is_not_followed(public_loopback, public_slack, private, status):
    public_slack.script(HOOK_PATH, Reply(status, "", {"Location": private.url("/services/T/B/stolen")}))
    with pytest.raises(PluginError) as err:
        run_plugin(SlackPlugin(GUARDED), {"webhook_url": public_slack.hook_url}, payload())
    assert err.value.permanent and "redirect" in err.value.message
    assert private.requests == []
    assert [r.path for r in public_slack.server.requests] == [HOOK_PATH]


def test_a_slack_webhook_redirect_to_another_public_host_is_not_followed_either(
    public_loopback, public_slack
):
    other = FakeServer(lambda req: Reply(200, "ok"), host=PUBLIC)
    try:
        public_slack.script(HOOK_PATH, redirect_to(other.url + HOOK_PATH))
        with pytest.raises(PluginError):
            run_plugin(SlackPlugin(GUARDED), {"webhook_url": public_slack.hook_url}, payload())
        assert other.requests == []
    finally:
        other.close()


def test_the_slack_web_api_never_takes_the_bot_token_through_a_redirect(
    public_loopback, public_slack, private
):
    public_slack.script("/api/chat.postMessage", redirect_to(private.url("/api/chat.postMessage")))
    plugin = SlackPlugin({**GUARDED, "SLACK_API_URL": public_slack.api_url})
    with pytest.raises(PluginError) as err:
        run_plugin(plugin, {"token": TOKEN, "channel": "#forms"}, payload())
    assert err.value.permanent and "redirect (HTTP 302), which is not followed" in err.value.message
    assert private.requests == []
    assert public_slack.posts == []


def test_the_slack_test_connection_is_guarded_too(public_loopback, public_slack, private):
    public_slack.script(HOOK_PATH, redirect_to(private.url(HOOK_PATH)))
    result = SlackPlugin(GUARDED).test_connection({"webhook_url": public_slack.hook_url})
    assert result.success is False and "redirect" in result.message
    assert private.requests == []


def _same_port_pair() -> tuple[FakeSlack, Recorder]:
    """A public Slack on 127.0.0.2:P and a private recorder on 127.0.0.1:P (one URL, two addresses)."""
    for _ in range(20):
        fake = FakeSlack(host=PUBLIC)
        try:
            return fake, Recorder(port=fake.server.server.server_address[1])
        except OSError:  # that port is taken on 127.0.0.1: try another
            fake.close()
    raise RuntimeError("no port free on both loopback addresses")


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch, public_loopback) -> Iterator[tuple[FakeSlack, Recorder]]:
    """REBINDING_HOST answers 127.0.0.2 (public) the first time it is looked up, 127.0.0.1 ever after."""
    fake, recorder = _same_port_pair()
    real, answers = socket.getaddrinfo, iter([PUBLIC])

    def getaddrinfo(host, port, *args, **kwargs):
        if host == REBINDING_HOST:
            host = next(answers, "127.0.0.1")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield fake, recorder
    fake.close()
    recorder.server.close()


def test_a_slack_webhook_is_pinned_to_the_checked_address(rebinding):
    fake, recorder = rebinding
    url = f"http://{REBINDING_HOST}:{recorder.server.server.server_address[1]}{HOOK_PATH}"
    with pytest.raises(PluginError) as err:
        run_plugin(SlackPlugin(GUARDED), {"webhook_url": url}, payload())
    assert "not globally routable" in err.value.message
    assert recorder.requests == []  # the second lookup's answer was checked, not connected to blindly


def test_the_slack_web_api_is_pinned_to_the_checked_address(rebinding):
    fake, recorder = rebinding
    api = f"http://{REBINDING_HOST}:{recorder.server.server.server_address[1]}/api/"
    with pytest.raises(PluginError):
        run_plugin(
            SlackPlugin({**GUARDED, "SLACK_API_URL": api}), {"token": TOKEN, "channel": "#forms"}, payload()
        )
    assert recorder.requests == []


def test_a_webhook_is_pinned_to_the_checked_address(rebinding):
    fake, recorder = rebinding
    url = f"http://{REBINDING_HOST}:{recorder.server.server.server_address[1]}/services/T1/B1/live"
    with pytest.raises(PluginError):  # the fake Slack refuses a webhook's JSON: what matters is who got it
        run_plugin(WebhookPlugin(GUARDED), {"url": url, "auth_token": "tok_123456"}, payload())
    assert len(fake.server.requests) == 1 and recorder.requests == []


def test_connect_checked_connects_to_the_address_it_checked(rebinding):
    fake, recorder = rebinding
    port = recorder.server.server.server_address[1]
    with net.connect_checked(REBINDING_HOST, port, 5, allow_private=False) as sock:
        assert sock.getpeername()[0] == PUBLIC
    with pytest.raises(PluginError):  # the next lookup answers 127.0.0.1: refused, not connected to
        net.connect_checked(REBINDING_HOST, port, 5, allow_private=False)


def test_slack_still_posts_to_a_public_destination(public_loopback, public_slack):
    result = run_plugin(SlackPlugin(GUARDED), {"webhook_url": public_slack.hook_url}, payload())
    assert result.summary == "Posted through the incoming webhook"
    bot = SlackPlugin({**GUARDED, "SLACK_API_URL": public_slack.api_url})
    assert run_plugin(bot, {"token": TOKEN, "channel": "#forms"}, payload()).summary == "Posted to #forms"
    assert len(public_slack.posts) == 2


def test_a_requests_redirect_is_checked_again_on_every_hop(public_loopback, private):
    """Clients built on requests that follow redirects (gspread's session) check each hop's address."""
    hop = FakeServer(lambda req: redirect_to(private.url("/token")), host=PUBLIC)
    following = requests.Session()  # as plugins.google_sheets.client mounts it on gspread's session
    following.mount("http://", GuardedAdapter(False, max_retries=0))
    try:
        with pytest.raises(PluginError):
            following.get(hop.url + "/start", timeout=5)
        assert len(hop.requests) == 1 and private.requests == []
    finally:
        hop.close()


REFUSED = [
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "100.127.255.254",
    "2002:c0a8:0101::1",  # 6to4 wrapping 192.168.1.1
    "2002:7f00:0001::1",  # 6to4 wrapping 127.0.0.1
    "fec0::1",  # site-local
    "feff:ffff::1",
    "::ffff:10.0.0.1",  # IPv4-mapped private
    "::ffff:169.254.169.254",  # IPv4-mapped metadata service
    "::127.0.0.1",  # IPv4-compatible
    "::10.0.0.1",
    "64:ff9b::a9fe:a9fe",  # NAT64 to 169.254.169.254
    "64:ff9b:1::1",  # local-use NAT64
    "192.0.0.1",  # IETF protocol assignments
    "198.18.0.1",  # benchmarking
    "192.0.2.1",  # documentation
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "ff02::1",
    "0.0.0.0",
    "::",
    "127.0.0.1",
    "::1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.0.1",
    "169.254.169.254",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "2001:db8::1",  # documentation
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
]
ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700::1111",
    "2a00:1450:4001::1",
    "::ffff:8.8.8.8",
    "2002:0808:0808::1",
]


@pytest.mark.parametrize("address", REFUSED)
def test_it_refuses_addresses_that_are_not_globally_routable(address):
    assert not is_public_address(ipaddress.ip_address(address))
    with pytest.raises(PluginError) as err:
        check_destination(address, 443, allow_private=False)
    assert err.value.permanent


@pytest.mark.parametrize("address", ALLOWED)
def test_it_allows_globally_routable_addresses(address):
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("plugin_id", "config", "points_to"),
    [
        ("webhook", {"url": "https://ada:pw@example.com/hook"}, "basic_username"),
        ("webhook", {"url": "https://token@example.com/hook"}, "auth_token"),
        ("slack", {"webhook_url": "https://u:p@hooks.slack.com/services/T/B/x"}, "user name"),
        ("google_sheets", {"spreadsheet": "https://a:b@docs.google.com/spreadsheets/d/1AbCdEfGhIjK/"}, "key"),
    ],
)
def test_a_url_with_credentials_is_refused_with_a_pointer_to_the_auth_fields(
    api, plugin_id, config, points_to
):
    form = api.create_form()
    resp = api.post(f"/api/forms/{form['id']}/plugins", {"plugin_id": plugin_id, "config": config})
    assert resp.status_code == 422
    [message] = resp.json["error"]["details"]["config"][next(iter(config))]
    assert "Remove the user name and password from the URL" in message and points_to in message
    assert api.get(f"/api/forms/{form['id']}/plugins").json["items"] == []
    tested = api.post(f"/api/plugins/{plugin_id}/test", {"config": config})
    assert tested.status_code == 422
