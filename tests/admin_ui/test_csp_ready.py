"""The pages can run under a Content-Security-Policy without 'unsafe-inline': scripts are static files."""

from __future__ import annotations

import re
from pathlib import Path

import app

TEMPLATES = Path(app.__file__).parent
INLINE = re.compile(r"<script(?![^>]*\ssrc=)|\son[a-z]+\s*=", re.IGNORECASE)


def test_no_template_has_an_inline_script_or_event_handler_attribute():
    offenders = [
        f"{path.relative_to(TEMPLATES)}:{n}"
        for path in TEMPLATES.rglob("*.html")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if INLINE.search(line)
    ]
    assert offenders == []
