"""Plugin categories and icons: a built-in icon by name, or an SVG the plugin ships in its package.

::

    class TelegramPlugin(Plugin):
        icon = "telegram"                                   # the name it is known by
        icon_svg = read_icon(__file__, "telegram.svg")      # optional: the SVG, next to this module

An icon that is neither built in nor shipped (or whose SVG is refused) shows as the generic ``plug``.
"""

from __future__ import annotations

import re
from pathlib import Path

CATEGORIES = ("notification", "spreadsheet", "crm", "developer", "other")
BUILTIN_ICONS = (
    "airtable",
    "bell",
    "discord",
    "email",
    "google-sheets",
    "hubspot",
    "mail",
    "plug",
    "sheets",
    "slack",
    "sms",
    "table",
    "teams",
    "webhook",
)
FALLBACK_ICON = "plug"
MAX_SVG_BYTES = 32 * 1024
# Icons are shown as <img> and served with a CSP that runs nothing; still, refuse what has no place in one.
_REFUSED = re.compile(r"<!(DOCTYPE|ENTITY)|<script|<foreignObject|\son\w+\s*=|javascript:", re.I)
_ROOT = re.compile(r"^\s*(<\?xml[^>]*\?>\s*)?(<!--.*?-->\s*)*<svg[\s>]", re.S)


def read_icon(module_file: str, filename: str) -> str | None:
    """The text of ``filename`` next to ``module_file`` (pass ``__file__``); None when it is missing."""
    path = Path(module_file).resolve().parent / filename
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def svg_problem(svg: str) -> str | None:
    """Why an SVG icon is refused, or None when it is fine."""
    if len(svg.encode()) > MAX_SVG_BYTES:
        return f"it is larger than {MAX_SVG_BYTES // 1024} KB"
    if not _ROOT.match(svg):
        return "it is not an SVG document (<svg ...> at the root)"
    if _REFUSED.search(svg):
        return "it contains scripts, event handlers or entity declarations"
    return None
