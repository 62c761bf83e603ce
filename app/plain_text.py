"""Names people give things (forms, integrations, workspaces, tokens) are one line of plain text: no control
characters (newlines included), no line or paragraph separators, no bidirectional overrides. Text that goes
out in the instance's own e-mails must not be able to add lines or disguise itself."""

from __future__ import annotations

import unicodedata

# Explicit bidirectional embeddings, overrides and isolates: they reorder what a reader sees.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _control(char: str) -> bool:
    return char in _BIDI or unicodedata.category(char) in ("Cc", "Zl", "Zp")


def has_control(text: str) -> bool:
    """True when ``text`` holds a character a one-line name may not."""
    return any(_control(char) for char in text)


def one_line(text: str) -> str:
    """``text`` with each such character replaced by a space (for names stored before they were refused)."""
    return "".join(" " if _control(char) else char for char in text)
