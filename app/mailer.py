"""The instance's own e-mail (invitations, alerts, digests): the operator's SMTP server from ``SMTP_URL``.

``SMTP_URL`` is ``smtp://[user:password@]host[:port]`` (STARTTLS when the server offers it; add
``?starttls=require`` to insist), or ``smtps://…`` for TLS from the first byte. Unset: no instance e-mail.
This server is the operator's, not a workspace's, so it is not subject to the destination policy.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


class MailError(RuntimeError):
    """The instance could not send an e-mail; the message says why (without credentials)."""


def configured(settings: Any) -> bool:
    return bool(settings.get("SMTP_URL"))


def send_mail(settings: Any, to: list[str], subject: str, text: str) -> None:
    """Send a plain-text e-mail to ``to`` through ``SMTP_URL`` from ``MAIL_FROM``."""
    url = urlsplit(settings["SMTP_URL"])
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        raise MailError("SMTP_URL must look like smtp://user:password@host:587 or smtps://host:465.")
    msg = EmailMessage()
    msg["From"] = settings.get("MAIL_FROM") or f"formhooks@{url.hostname}"
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="formhooks")
    msg.set_content(text)
    timeout = float(settings.get("JOB_TIMEOUT") or 30)
    port = url.port or (465 if url.scheme == "smtps" else 25)
    tls = ssl.create_default_context()
    try:
        if url.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(url.hostname, port, timeout=timeout, context=tls)
        else:
            client = smtplib.SMTP(url.hostname, port, timeout=timeout)
        with client:
            client.ehlo()
            require = parse_qs(url.query).get("starttls", [""])[0] in ("1", "true", "yes", "require")
            if url.scheme == "smtp" and (client.has_extn("starttls") or require):
                client.starttls(context=tls)
                client.ehlo()
            if url.username:
                client.login(unquote(url.username), unquote(url.password or ""))
            client.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(
            f"Could not send e-mail through {url.hostname}:{port} ({type(exc).__name__})."
        ) from None
