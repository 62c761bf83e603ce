"""A real SMTP server on loopback (aiosmtpd): STARTTLS or implicit TLS, AUTH required, messages recorded."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.plugins.peers.certs import CertFiles


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpPeer:
    """``users`` may log in; ``rejected`` recipients get 550. ``commands`` records MAIL/RCPT/DATA seen."""

    def __init__(self, certs: CertFiles, security: str = "starttls", users: dict[str, str] | None = None):
        self.security = security
        self.users = users or {"forms": "s3cret"}
        self.rejected: set[str] = set()
        self.messages: list[Received] = []
        self.commands: list[str] = []
        self.logins: list[str] = []
        self._cond = threading.Condition()
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(certs.cert, certs.key)
        self.port = free_port()
        options: dict[str, Any] = {
            "hostname": "127.0.0.1",
            "port": self.port,
            "authenticator": self._authenticate,
            "auth_required": True,
            "server_hostname": "mx.test",
        }
        if security == "ssl":  # TLS from the first byte: AUTH is safe without STARTTLS
            options.update(ssl_context=tls, auth_require_tls=False)
        else:
            options.update(tls_context=tls, require_starttls=True, auth_require_tls=True)
        self.controller = Controller(self, **options)
        self.controller.start()

    def _authenticate(self, server, session, envelope, mechanism: str, auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            ok = self.users.get(login) == password
            if ok:
                self.logins.append(login)
            return AuthResult(success=ok, handled=False)
        return AuthResult(success=False, handled=False)

    async def handle_MAIL(self, server, session, envelope, address: str, options: list[str]) -> str:  # noqa: N802
        self.commands.append("MAIL")
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address: str, options: list[str]) -> str:  # noqa: N802
        self.commands.append("RCPT")
        if address in self.rejected:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        self.commands.append("DATA")
        raw = envelope.original_content.replace(b"\r\n", b"\n")
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        with self._cond:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
            self._cond.notify_all()
        return "250 Message accepted"

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"SMTP peer got {len(self.messages)} messages, expected {count}")
                self._cond.wait(left)
            return list(self.messages)

    def config(self, **overrides: Any) -> dict[str, Any]:
        """An email config pointing at this server."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "security": self.security,
            "username": "forms",
            "password": self.users["forms"],
            "from_address": "Forms <forms@example.com>",
            "to": ["owner@example.com"],
            **overrides,
        }

    def close(self) -> None:
        self.controller.stop()
