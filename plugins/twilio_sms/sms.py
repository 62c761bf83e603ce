"""Phone numbers and message length: E.164 recipients, GSM-7 or UCS-2 encoding, and the segments it costs."""

from __future__ import annotations

import re
from dataclasses import dataclass

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
SEPARATORS = re.compile(r"[\s().\-/]")
# The GSM 03.38 basic set; the extension characters below cost two septets each.
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")
MAX_BODY = 1600  # Twilio refuses longer bodies


def e164(number: str) -> str:
    """``number`` in E.164 (spaces, dashes, dots and brackets dropped); ValueError saying what is wrong."""
    cleaned = SEPARATORS.sub("", number.strip())
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    if not E164.match(cleaned):
        raise ValueError(
            f"{number.strip()!r} is not a phone number in international format: "
            "+, the country code and the number (e.g. +14155550100)."
        )
    return cleaned


@dataclass(frozen=True)
class Length:
    """How a body travels: its encoding, length in characters and the SMS segments it is split into."""

    encoding: str
    characters: int
    segments: int
    first_non_gsm: str | None = None

    def warning(self) -> str | None:
        if self.segments <= 1:
            return None
        why = f" (UCS-2 because of {self.first_non_gsm!r})" if self.first_non_gsm else ""
        return f"{self.characters} characters are {self.segments} SMS segments{why}; each segment is billed."


def measure(body: str) -> Length:
    non_gsm = next((c for c in body if c not in GSM7 and c not in GSM7_EXTENDED), None)
    if non_gsm is None:
        units = sum(2 if c in GSM7_EXTENDED else 1 for c in body)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = sum(2 if ord(c) > 0xFFFF else 1 for c in body)  # UTF-16 code units
        single, multi, encoding = 70, 67, "UCS-2"
    segments = 1 if units <= single else -(-units // multi)
    return Length(encoding, len(body), segments, non_gsm)
