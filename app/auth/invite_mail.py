"""The invitation e-mail, sent through the instance's own SMTP server (SMTP_URL, MAIL_FROM) when set.

``SMTP_URL`` is ``smtp://[user:password@]host[:port]`` (``?starttls=1`` to upgrade) or ``smtps://...``.
This is the operator's server, not a workspace's destination, so the destination policy does not apply.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger(__name__)
TIMEOUT = 10.0


def _message(sender: str, to: str, link: str, workspace: str, inviter: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = f"You are invited to {workspace} on Formhooks"
    msg.set_content(
        f"{inviter} invited you to the workspace “{workspace}” on Formhooks.\n\n"
        f"Accept the invitation here (the link works once):\n{link}\n\n"
        "If you did not expect this, ignore this message.\n"
    )
    return msg


def send_invitation(smtp_url: str, sender: str, to: str, link: str, workspace: str, inviter: str) -> bool:
    """Send the invitation; False (and a warning in the log) when there is no SMTP_URL or sending failed."""
    if not smtp_url:
        return False
    parts = urlsplit(smtp_url)
    secure = parts.scheme == "smtps"
    port = parts.port or (465 if secure else 25)
    host = parts.hostname or "localhost"
    tls = ssl.create_default_context()
    try:
        if secure:
            client = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT, context=tls)
        else:
            client = smtplib.SMTP(host, port, timeout=TIMEOUT)
        with client as smtp:
            if parse_qs(parts.query).get("starttls", ["0"])[0] in ("1", "true", "yes"):
                smtp.starttls(context=tls)
            if parts.username:
                smtp.login(unquote(parts.username), unquote(parts.password or ""))
            smtp.send_message(_message(sender, to, link, workspace, inviter))
        return True
    except (OSError, smtplib.SMTPException) as err:
        log.warning("the invitation e-mail to %s could not be sent: %s", to, type(err).__name__)
        return False
