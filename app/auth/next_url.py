"""Where the browser goes after logging in: only a path of the admin UI on this site, never elsewhere."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Browsers drop tabs and newlines inside URLs and read "\" as "/", so "/\t/host" and "/\\host" mean "//host".
_IGNORED_BY_BROWSERS = re.compile(r"[\x00-\x20\x7f]")
ADMIN_PREFIX = "/admin"


def safe_next(target: str | None) -> str | None:
    """``target`` as a same-site path under /admin, or None when it is anything else."""
    if not target:
        return None
    cleaned = _IGNORED_BY_BROWSERS.sub("", target).replace("\\", "/")
    parts = urlsplit(cleaned)
    if parts.scheme or parts.netloc or cleaned.startswith("//"):
        return None
    path = parts.path
    if not (path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")):
        return None
    if "//" in path or any(seg in (".", "..") for seg in path.split("/")) or "%" in path:
        return None
    return cleaned
