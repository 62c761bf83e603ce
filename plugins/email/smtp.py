"""SMTP sessions (smtplib) and what their failures mean to a form owner."""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from app.contract import PluginError, connect_checked


@dataclass
class Session:
    """An open, greeted (and, when configured, encrypted and logged-in) SMTP connection."""

    smtp: smtplib.SMTP
    greeting: str
    tls: bool
    authenticated: bool

    def details(self) -> dict[str, Any]:
        return {"greeting": self.greeting, "tls": self.tls, "authenticated": self.authenticated}


class _Greeted:
    """Keeps the server's 220 greeting, which smtplib reads on connect but does not store."""

    greeting: bytes = b""

    def connect(
        self, host: str = "localhost", port: int = 0, source_address: Any = None
    ) -> tuple[int, bytes]:
        code, msg = super().connect(host, port, source_address)  # type: ignore[misc]
        self.greeting = msg
        return code, msg


class _Pinned(smtplib.SMTP):
    """Opens its socket only to an address that passed the destination check (SSRF guard, no rebinding)."""

    allow_private = False

    def _get_socket(self, host: str, port: int, timeout: float | None) -> socket.socket:
        return connect_checked(host, port, timeout, self.allow_private)


class _SMTP(_Greeted, _Pinned):
    pass


class _SMTPS(_Greeted, smtplib.SMTP_SSL, _Pinned):  # SMTP_SSL wraps the pinned socket in TLS for `host`
    pass


def reply_text(raw: bytes | str) -> str:
    """An SMTP reply as one line of text."""
    return (raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)).replace("\n", " ").strip()


@contextmanager
def smtp_session(config: dict[str, Any], timeout: float, allow_private: bool) -> Iterator[Session]:
    """Connect, EHLO, STARTTLS and log in as configured; QUIT on the way out. Failures are PluginErrors."""
    host, port, security = config["host"], int(config.get("port", 587)), config.get("security", "starttls")
    where = f"The mail server {host}:{port}"  # the subject of every message below
    smtp: _SMTP | _SMTPS | None = None
    greeted = False
    try:
        context = ssl.create_default_context()
        local = socket.gethostname()
        if security == "ssl":
            smtp = _SMTPS(local_hostname=local, timeout=timeout, context=context)
        else:
            smtp = _SMTP(local_hostname=local, timeout=timeout)
        smtp.allow_private = allow_private
        smtp._host = host  # what smtplib verifies the TLS certificate against (its constructor would set it)
        code, msg = smtp.connect(host, port)
        if code != 220:
            raise smtplib.SMTPConnectError(code, msg)
        greeted = True
        smtp.ehlo()
        if security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if config.get("username"):
            smtp.login(config["username"], config.get("password") or "")
        session = Session(smtp, reply_text(smtp.greeting), security != "none", bool(config.get("username")))
        yield session
    except PluginError:
        raise
    except (smtplib.SMTPServerDisconnected, TimeoutError) as exc:
        if not greeted:  # typically a plain connection to a port that expects TLS at once
            raise PluginError(
                f"{where} sent no greeting. If it expects TLS from the first byte (usually port 465), "
                "choose security 'ssl'; check that security matches the port."
            ) from None
        raise explain(exc, where) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise explain(exc, where) from None
    finally:
        if smtp is not None:
            with suppress(smtplib.SMTPException, OSError):
                smtp.quit()
            smtp.close()


def explain(exc: BaseException, where: str) -> PluginError:
    """A PluginError saying what went wrong and whether retrying can help (4xx and network: yes)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = {addr: (code, reply_text(msg)) for addr, (code, msg) in exc.recipients.items()}
        detail = "; ".join(f"{addr}: {code} {msg}" for addr, (code, msg) in refused.items())
        return PluginError(
            f"{where} refused every recipient ({detail}).",
            permanent=all(code >= 500 for code, _ in refused.values()),
            response={"refused": {a: f"{c} {m}" for a, (c, m) in refused.items()}},
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        code, text = exc.smtp_code, reply_text(exc.smtp_error)
        reply = {"smtp_code": code, "smtp_reply": text}
        if 400 <= code < 500:
            return PluginError(f"{where} answered {code} {text} (temporary; will retry).", response=reply)
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return PluginError(
                f"{where} rejected the username or password ({code} {text}). "
                "Check the login; some providers require an app password.",
                permanent=True,
                response=reply,
            )
        if isinstance(exc, smtplib.SMTPSenderRefused):
            return PluginError(
                f"{where} refused the sender {exc.sender} ({code} {text}). "
                "Use a from_address this account is allowed to send as.",
                permanent=True,
                response=reply,
            )
        return PluginError(f"{where} answered {code} {text}.", permanent=code >= 500, response=reply)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        if "STARTTLS" in str(exc):
            hint = "it does not offer STARTTLS. Choose security 'ssl' (usually port 465) or 'none'."
        else:
            hint = "it does not offer login (AUTH) here. Use starttls or ssl, or leave the username empty."
        return PluginError(f"{where} cannot be used as configured: {hint}", permanent=True)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return PluginError(f"{where} closed the connection unexpectedly.")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PluginError(
            f"{where} presented a TLS certificate that is not trusted ({exc.verify_message}).", permanent=True
        )
    if isinstance(exc, ssl.SSLError):
        return PluginError(
            f"{where} failed the TLS handshake ({exc.reason or exc}). Check that security matches "
            "the port: ssl for 465, starttls for 587.",
            permanent=True,
        )
    if isinstance(exc, TimeoutError):
        return PluginError(f"{where} did not answer in time.")
    if isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException):
        return PluginError(f"{where} could not be reached: {exc.strerror or exc}.")
    return PluginError(f"{where} failed: {exc}.")
