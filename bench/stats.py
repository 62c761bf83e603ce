"""Small statistics helpers: percentiles and rates."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], pct: float) -> float | None:
    """The ``pct`` percentile (nearest rank) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def rate(count: int, seconds: float) -> float:
    """Events per second (0 when no time passed)."""
    return count / seconds if seconds > 0 else 0.0


def cpu_text(cpu_ms: dict[str, float], per: str = "job") -> str:
    """``CPU per job: app 2.0 ms, store 1.7 ms`` (kinds that used next to nothing are left out)."""
    parts = [f"{kind} {ms:.1f} ms" for kind, ms in cpu_ms.items() if ms >= 0.05]
    return f"CPU per {per}: " + ", ".join(parts) if parts else ""
