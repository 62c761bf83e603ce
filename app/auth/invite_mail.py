"""The invitation e-mail, sent through the instance's own mail server (``SMTP_URL``, app/mailer.py) when set."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from app.mailer import MailError, configured, send_mail

log = logging.getLogger(__name__)


def send_invitation(settings: Mapping[str, Any], to: str, link: str, workspace: str, inviter: str) -> bool:
    """Send the invitation; False (and a warning in the log) when there is no SMTP_URL or sending failed."""
    if not configured(settings):
        return False
    text = (
        f"{inviter} invited you to the workspace “{workspace}” on Formhooks.\n\n"
        f"Accept the invitation here (the link works once):\n{link}\n\n"
        "If you did not expect this, ignore this message.\n"
    )
    try:
        send_mail(settings, [to], f"You are invited to {workspace} on Formhooks", text)
    except MailError as err:
        log.warning("the invitation e-mail to %s could not be sent: %s", to, err)
        return False
    return True
