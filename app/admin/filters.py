"""Jinja filters and globals of the UI pages: times, durations, statuses, plugin icons, event names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Flask, url_for

from app.contract.icons import FALLBACK_ICON
from app.engine import jobs as lifecycle
from app.models import as_datetime, isoformat, utcnow
from app.services import services

ICON_DIR = Path(__file__).parent / "static" / "icons"
EVENT_LABELS = {
    "form.submitted": "New submission",
    "form.updated": "Form changed",
    "response.edited": "Submission edited",
    "response.deleted": "Submission deleted",
}
TONES = {
    "completed": "good",
    "success": "good",
    "failed": "bad",
    "timeout": "bad",
    "unknown": "warn",
    "pending": "wait",
    "running": "wait",
    "cancelled": "muted",
    "open": "bad",
    "half-open": "warn",
    "half_open": "warn",
    "closed": "good",
    "succeeded": "good",  # workflow runs and steps
    "active": "good",
    "paused": "warn",
}


def when(value: Any) -> str:
    """A stored time as ``2024-05-01 14:03 UTC``."""
    moment = as_datetime(value)
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def ago(value: Any) -> str:
    """A stored time relative to now: ``just now``, ``5 min ago``, ``3 h ago``, ``2 d ago``."""
    moment = as_datetime(value)
    if moment is None:
        return "never"
    seconds = (utcnow() - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        text = "just now" if not future else "in a moment"
        return text
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            amount = round(seconds / size)
            return f"in {amount} {unit}" if future else f"{amount} {unit} ago"
    return "just now"


def duration(ms: int | None) -> str:
    if ms is None:
        return "—"
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f} %"


def _parsed(text: str) -> Any:
    """A JSON body excerpt as data (so it is shown indented); the text itself when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def pretty(value: Any) -> str:
    """JSON for display (what was sent / what came back), with JSON body excerpts unfolded."""
    if isinstance(value, str):
        parsed = _parsed(value)
        return value if parsed is value else pretty(parsed)
    if isinstance(value, dict) and isinstance(value.get("body_excerpt"), str):
        value = {**value, "body_excerpt": _parsed(value["body_excerpt"])}
    # Real characters ("Zoë", not "Zo\\u00eb"); the template still escapes the text for HTML.
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def tone(status: str | None) -> str:
    return TONES.get(status or "", "muted")


def icon_url(icon: str | None) -> str:
    """The plugin's icon from static/icons, else the SVG its plugin ships, else a generic plug."""
    if icon and not (ICON_DIR / f"{icon}.svg").is_file() and icon in services().plugins.icons:
        return url_for("admin.plugin_icon", plugin_id=services().plugins.icons[icon])
    name = icon if icon and (ICON_DIR / f"{icon}.svg").is_file() else FALLBACK_ICON
    return url_for("admin.static", filename=f"icons/{name}.svg")


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(when=when, ago=ago, duration=duration, pct=pct, pretty=pretty, tone=tone)
    app.jinja_env.globals.update(
        icon_url=icon_url, event_labels=EVENT_LABELS, isoformat=isoformat, job_allows=lifecycle.allowed
    )
