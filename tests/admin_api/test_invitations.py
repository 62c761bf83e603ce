"""Invitations (security finding 1): nobody sets another person's password, the inviter learns nothing
about the address, and the link works once until it expires."""

from __future__ import annotations

import time

import pytest

from app.models.accounts import Invitation, Membership, User
from tests.admin_api.conftest import PASSWORD, People, csrf_headers, login
from tests.conftest import Api
from tests.plugins.peers.certs import self_signed
from tests.plugins.peers.smtp import SmtpPeer


def _invite(api, ws: str, email: str, role: str = "editor") -> dict:
    resp = api.post(f"/api/workspaces/{ws}/invitations", {"email": email, "role": role})
    assert resp.status_code == 201, resp.json
    return resp.json


def _token(link: str) -> str:
    return link.rsplit("/", 1)[1]


def _shape(answer: dict) -> dict:
    """What an answer says, with the values that differ per invitation left out."""
    return {k: v for k, v in answer.items() if k not in ("id", "email", "link", "created_at", "expires_at")}


def test_inviting_answers_alike_for_known_and_unknown_addresses_and_sets_no_password(app, api, people):
    ws = people.default_workspace()
    known = people.member("known@example.com", {})
    hash_before = User.objects(id=known.user.id).first().password_hash
    for_known = _invite(api, ws, "known@example.com")
    for_unknown = _invite(api, ws, "unknown@example.com")
    assert _shape(for_known) == _shape(for_unknown) == {"role": "editor", "emailed": False}
    assert User.objects(email="unknown@example.com").first() is None  # no account until they accept
    assert User.objects(id=known.user.id).first().password_hash == hash_before
    assert Membership.objects(user_id=known.id).count() == 0  # not a member until they accept


@pytest.mark.parametrize("body", [{"password": "attacker's choice"}, {"name": "x", "password": "y" * 9}])
def test_an_inviter_cannot_set_a_password(api, people, body):
    ws = people.default_workspace()
    for path in ("invitations", "members"):
        resp = api.post(f"/api/workspaces/{ws}/{path}", {"email": "v@example.com", "role": "viewer", **body})
        assert resp.status_code == 422 and "password" in resp.json["error"]["details"]
    assert Invitation.objects.count() == 0


def test_the_invitee_chooses_their_password_and_the_link_works_once(app, api, people):
    ws = people.default_workspace()
    token = _token(_invite(api, ws, "New@Example.com", "viewer")["link"])
    info = app.test_client().get(f"/api/invitations/{token}")
    assert info.status_code == 200 and info.json["email"] == "new@example.com"
    assert "account" not in str(info.json).lower()  # nothing about whether the address has an account
    invitee = app.test_client()
    accepted = invitee.post(f"/api/invitations/{token}/accept", json={"password": "my own password"})
    assert accepted.status_code == 200 and accepted.json["role"] == "viewer"
    assert [w["id"] for w in invitee.get("/api/workspaces").json["items"]] == [ws]  # signed in, a member
    assert login(app.test_client(), "new@example.com", "my own password").status_code == 200
    again = app.test_client().post(f"/api/invitations/{token}/accept", json={"password": "another password"})
    assert again.status_code == 404
    assert login(app.test_client(), "new@example.com", "another password").status_code == 401


def test_an_expired_or_revoked_link_is_refused_and_creates_nothing(app, api, people):
    ws = people.default_workspace()
    expired = _invite(api, ws, "late@example.com")
    Invitation.objects(id=expired["id"]).update_one(set__expires_at=time.time() - 1)
    revoked = _invite(api, ws, "gone@example.com")
    pending = api.get(f"/api/workspaces/{ws}/invitations").json["items"]
    assert [i["email"] for i in pending] == ["gone@example.com"]  # the expired one is not pending
    assert api.delete(f"/api/workspaces/{ws}/invitations/{revoked['id']}").status_code == 204
    assert api.get(f"/api/workspaces/{ws}/invitations").json["items"] == []
    client = app.test_client()
    for invitation in (expired, revoked):
        token = _token(invitation["link"])
        assert client.get(f"/api/invitations/{token}").status_code == 404
        resp = client.post(f"/api/invitations/{token}/accept", json={"password": "a long password"})
        assert resp.status_code == 404
    assert User.objects(email__in=["late@example.com", "gone@example.com"]).count() == 0


def test_an_existing_account_joins_only_with_its_own_password(app, api, people):
    ws = people.default_workspace()
    known = people.member("known@example.com", {})
    token = _token(_invite(api, ws, "known@example.com")["link"])
    client = app.test_client()
    wrong = client.post(f"/api/invitations/{token}/accept", json={"password": "the inviter's guess"})
    assert wrong.status_code == 401
    assert Membership.objects(user_id=known.id).count() == 0
    assert login(app.test_client(), "known@example.com").status_code == 200  # their password still works
    ok = client.post(f"/api/invitations/{token}/accept", json={"password": PASSWORD})
    assert ok.status_code == 200
    assert Membership.objects(user_id=known.id).first().role == "editor"


def test_a_viewer_who_pre_creates_an_account_gains_no_access_to_the_real_workspace(app, api, people):
    """The attack of finding 1: a viewer makes a workspace, invites the victim and accepts it as them."""
    real = people.default_workspace()
    attacker = people.member("eve@example.com", {real: "viewer"})
    own = attacker.api.post("/api/workspaces", {"name": "Trap"}).json["id"]
    trap = _token(_invite(attacker.api, own, "victim@example.com")["link"])
    eve_as_victim = app.test_client()
    eve_as_victim.post(f"/api/invitations/{trap}/accept", json={"password": "eve's password"})
    _invite(api, real, "victim@example.com", "owner")  # the real owner invites the victim later
    assert [w["id"] for w in eve_as_victim.get("/api/workspaces").json["items"]] == [own]
    victim = User.objects(email="victim@example.com").first()
    assert Membership.objects(user_id=str(victim.id), workspace_id=real).count() == 0
    assert (
        attacker.api.post(
            f"/api/workspaces/{real}/invitations", {"email": "x@example.com", "role": "owner"}
        ).status_code
        == 403
    )


def test_the_invitation_is_emailed_when_smtp_is_set(make_app, people, tmp_path, monkeypatch):
    certs = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.cert))
    peer = SmtpPeer(certs, security="ssl")
    try:
        app = make_app(
            SMTP_URL=f"smtps://forms:s3cret@127.0.0.1:{peer.port}",
            MAIL_FROM="team@example.com",
            PUBLIC_URL="https://forms.example.com/",
        )
        answer = _invite(Api(app.test_client()), people.default_workspace(), "new@example.com")
        assert answer["emailed"] is True
        assert answer["link"].startswith("https://forms.example.com/admin/invite/fhi_")
        [mail] = peer.wait_for(1)
        assert mail.rcpt_tos == ["new@example.com"] and mail.mail_from == "team@example.com"
        assert answer["link"] in mail.message.get_content()
    finally:
        peer.close()


def test_signed_in_as_the_address_one_click_accepts_but_not_from_another_site(app, api, people):
    ws = people.default_workspace()
    known = people.member("known@example.com", {})
    token = _token(_invite(api, ws, "known@example.com")["link"])
    client = app.test_client()
    login(client, "known@example.com")
    forged = client.post(f"/api/invitations/{token}/accept", json={})  # no CSRF token: another site's form
    assert forged.status_code == 400
    assert Membership.objects(user_id=known.id).count() == 0
    ok = client.post(f"/api/invitations/{token}/accept", json={}, headers=csrf_headers(client))
    assert ok.status_code == 200 and ok.json["role"] == "editor"


LOOKALIKES = [
    "ａｄａ@example.com",  # fullwidth
    "ada@ｅｘａｍｐｌｅ.com",
    "аda@example.com",  # Cyrillic а among Latin letters
    "ada@exаmple.com",
    "ada@xn--80ak6aa92e.com",  # аррӏе.com: only Cyrillic letters that look Latin
    "ορο@example.com",  # only Greek letters that look Latin
    "ɑda@example.com",  # IPA alpha
    "ada\u200b@example.com",  # zero-width space
    "a\u0301da@example.com",  # decomposed
    "ada@exa_mple.com",
]


@pytest.mark.parametrize("address", LOOKALIKES)
def test_a_lookalike_address_is_refused_and_nothing_is_created(api, people, address):
    resp = api.post(
        f"/api/workspaces/{people.default_workspace()}/invitations", {"email": address, "role": "owner"}
    )
    assert resp.status_code == 422, resp.json
    assert "email" in resp.json["error"]["details"]
    assert Invitation.objects.count() == 0


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Ada.Lovelace+forms@Example.COM", "ada.lovelace+forms@example.com"),
        ("josé@exämple.de", "josé@exämple.de"),
        ("ada@xn--exmple-cua.de", "ada@exämple.de"),  # punycode and Unicode are one address
        ("яна@почта.рф", "яна@почта.рф"),
        ("山田@例え.jp", "山田@例え.jp"),
    ],
)
def test_real_international_addresses_are_invited_as_one_form(api, people, typed, stored):
    assert _invite(api, people.default_workspace(), typed)["email"] == stored


def test_an_invitation_is_accepted_only_by_its_own_address(make_app):
    """An owner (or any other account) signed in cannot accept a link sent to someone else: nothing is
    created, the link is not spent, and the invited person then joins with the password they choose."""
    app = make_app(LOGIN_RATE_LIMIT="")  # many logins and accepts in a row
    api, people = Api(app.test_client()), People(app)
    ws = people.default_workspace()
    other = people.member("other@example.com", {})
    tokens = []
    for attempt in _signed_in_attempts(app, api, other):
        tokens.append(token := _token(_invite(api, ws, "victim@example.com")["link"]))
        resp = attempt(token)
        assert resp.status_code == 409 and resp.json["error"]["code"] == "wrong_account", resp.json
        assert "victim@example.com" in resp.json["error"]["message"]
        assert User.objects(email="victim@example.com").first() is None
        assert Membership.objects(user_id=other.id).count() == 0
        page = app.test_client()
        login(page, "other@example.com")
        assert "cannot accept an invitation for another address" in page.get(f"/admin/invite/{token}").text
    victim = app.test_client()  # every link is still usable by the invited person
    ok = victim.post(f"/api/invitations/{tokens[0]}/accept", json={"password": "the victim's own"})
    assert ok.status_code == 200
    for token in tokens[1:]:
        assert (
            victim.post(f"/api/invitations/{token}/accept", json={}, headers=csrf_headers(victim)).status_code
            == 200
        )
    assert login(app.test_client(), "victim@example.com", "the victim's own").status_code == 200


def _signed_in_attempts(app, api, other):
    """Ways an account of another address tries a link: its session (with and without a password), its
    API token, the admin token."""

    def session(body):
        def attempt(token):
            client = app.test_client()
            login(client, "other@example.com")
            return client.post(f"/api/invitations/{token}/accept", json=body, headers=csrf_headers(client))

        return attempt

    return [
        session({}),
        session({"password": "chosen by the owner"}),
        lambda token: other.api.post(f"/api/invitations/{token}/accept", {"password": "chosen by them"}),
        lambda token: api.post(f"/api/invitations/{token}/accept", {"password": "chosen by the admin"}),
    ]
