"""E-mail addresses an account or an invitation may be made for: what an owner reads is what it is.

An address is refused (422) when it holds compatibility forms (fullwidth ``ａｄａ``: NFKC would change it),
invisible or control characters, letters of scripts that do not belong together (Latin with Cyrillic or
Greek: ``аda``), a label written only in Cyrillic or Greek letters that look Latin (``аррӏе``), Latin letters
that only imitate ASCII ones (``ɑ``), or a domain that is not valid IDNA. A domain typed as punycode and the
same one in Unicode are the same address (stored in Unicode, lower-cased).
"""

from __future__ import annotations

import unicodedata

import idna

from app.errors import APIError, invalid

# Scripts that are written together (UTS #39 "highly restrictive"): Latin with Han and the Japanese kana,
# with Han and Hangul, or with Han and Bopomofo.
MIXES = (
    frozenset({"LATIN", "CJK", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "CJK", "HANGUL"}),
    frozenset({"LATIN", "CJK", "BOPOMOFO"}),
)
# Cyrillic and Greek letters that look like Latin ones: a label of only these reads as a Latin word.
LATIN_LOOKALIKES = frozenset("аӏвсԁеһіјкмнорԛѕтԝхуүъьѵѡгпыοαβεικνρτυχωϲ")
LATIN_EXTRA = range(0x00C0, 0x0180)  # Latin-1 Supplement and Latin Extended-A: é, ß, ø, ł, ...


def checked_address(raw: str) -> str:
    """``raw`` as the address to store (lower-cased, domain in Unicode), or 422 saying what is wrong."""
    address = (raw or "").strip()
    if unicodedata.normalize("NFKC", address) != address:
        plain = unicodedata.normalize("NFKC", address)
        raise _refused(
            f"It contains fullwidth, compatibility or decomposed characters; did you mean {plain}?"
        )
    local, at, domain = address.lower().rpartition("@")
    if not at or not local or "" in domain.split("."):
        raise _refused("It is not an e-mail address.")
    if any(unicodedata.category(ch)[0] in "CZ" for ch in address):
        raise _refused("It contains invisible, control or space characters.")
    try:
        domain = idna.decode(idna.encode(domain))
    except (idna.IDNAError, UnicodeError) as exc:
        raise _refused(f"Its domain is not a valid domain name ({exc}).") from None
    for part in (local, *domain.split(".")):
        problem = _lookalike(part)
        if problem:
            raise _refused(f"{problem} in {part!r}: it could pass for another address.")
    return f"{local}@{domain}"


def _refused(message: str) -> APIError:
    return invalid({"email": [message]})


def _script(ch: str) -> str | None:
    """The script of a letter (the first word of its Unicode name), None for anything else."""
    if not unicodedata.category(ch).startswith("L"):
        return None
    return unicodedata.name(ch, "UNKNOWN").split(" ")[0]


def _lookalike(part: str) -> str | None:
    """Why ``part`` (a local part or a domain label) could pass for another, or None."""
    if part.isascii():
        return None
    marked = (
        i == 0 or part[i - 1].isascii() for i, ch in enumerate(part) if unicodedata.category(ch)[0] == "M"
    )
    if any(marked):
        return "A combining mark on a plain letter"
    scripts = {s for s in map(_script, part) if s}
    if len(scripts) > 1 and not any(scripts <= mix for mix in MIXES):
        return f"Letters of different scripts ({', '.join(sorted(scripts)).lower()})"
    if any(_script(ch) == "LATIN" and not ch.isascii() and ord(ch) not in LATIN_EXTRA for ch in part):
        return "A Latin letter that imitates a plain one"
    letters = [ch for ch in part if _script(ch)]
    if letters and scripts <= {"CYRILLIC", "GREEK"} and all(ch in LATIN_LOOKALIKES for ch in letters):
        return "Only letters that look Latin"
    return None
