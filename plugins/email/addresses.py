"""Email addresses typed in a config or rendered from a submission: parse, check, format."""

from __future__ import annotations

import email.utils
import re

ADDRESS = re.compile(r"^[^@\s<>(),;:\"\[\]\\]+@[^@\s<>(),;:\"\[\]\\]+\.[^@\s<>(),;:\"\[\]\\.]+$")


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def parse_addresses(text: str) -> tuple[list[str], list[str]]:
    """(valid addresses formatted for a header, the parts that are not addresses) of a comma-separated list.

    Only ASCII addresses are accepted (no SMTPUTF8), and no line breaks (no header injection).
    """
    if "\r" in text or "\n" in text:
        return [], [text.strip()]
    pairs = email.utils.getaddresses([text])
    if pairs and all(_is_address(addr) for _, addr in pairs):
        return [email.utils.formataddr(pair) for pair in pairs], []
    valid: list[str] = []
    invalid: list[str] = []
    for part in (p.strip() for p in text.split(",")):  # name what is wrong, part by part
        pairs = email.utils.getaddresses([part]) if part else []
        if len(pairs) == 1 and _is_address(pairs[0][1]):
            valid.append(email.utils.formataddr(pairs[0]))
        elif part:
            invalid.append(part)
    return valid, invalid


def _is_address(addr: str) -> bool:
    return addr.isascii() and bool(ADDRESS.match(addr))


def bare(address: str) -> str:
    """The addr-spec of a formatted address (``Ada <ada@example.com>`` → ``ada@example.com``)."""
    return email.utils.parseaddr(address)[1]
