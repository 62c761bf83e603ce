"""Spam protection for the hosted page that needs no third-party service: a honeypot field people never
see (bots fill every field), and the time the page was shown, signed, which a post must bring back no
sooner than ``HOSTED_MIN_SECONDS`` later (bots post at once) and within ``HOSTED_MAX_AGE``.

Their names hold a dot, which a form's own field names cannot (app.api.schemas.FIELD_NAME). The public
JSON intake and forms posting to it from other sites are not concerned: only posts to ``/f/<form_id>``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from enum import Enum
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

HONEYPOT = "fh.website"
SHOWN = "fh.shown"
FIELDS = (HONEYPOT, SHOWN)
SALT = "formhooks.hosted-form.shown"
clock = time.time  # replaceable in tests


class Verdict(Enum):
    HUMAN = "human"
    BOT = "bot"  # refused quietly: a bot learns nothing from the answer
    TOO_FAST = "too_fast"  # shown again, asking to check and send again
    EXPIRED = "expired"  # shown again, asking to send again


def _signer(settings: Mapping[str, Any]) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings["SECRET_KEY"], salt=SALT)


def shown_stamp(settings: Mapping[str, Any], form_id: str) -> str:
    """The signed time this form's page is shown now (the page's hidden ``SHOWN`` field)."""
    return _signer(settings).dumps(form_id)


def judge(settings: Mapping[str, Any], form_id: str, posted: Mapping[str, Any]) -> Verdict:
    """What a post to the hosted page of ``form_id`` looks like; ``HOSTED_MIN_SECONDS`` 0 turns the timing
    check off (the honeypot still counts)."""
    if posted.get(HONEYPOT):
        return Verdict.BOT
    least = float(settings.get("HOSTED_MIN_SECONDS") or 0)
    if least <= 0:
        return Verdict.HUMAN
    try:
        shown_for, shown_at = _signer(settings).loads(
            str(posted.get(SHOWN) or ""), max_age=float(settings["HOSTED_MAX_AGE"]), return_timestamp=True
        )
    except SignatureExpired:
        return Verdict.EXPIRED
    except BadSignature:
        return Verdict.BOT
    if shown_for != form_id:
        return Verdict.BOT
    return Verdict.TOO_FAST if clock() - shown_at.timestamp() < least else Verdict.HUMAN
