"""Retry delays: exponential backoff with full jitter, or the destination's Retry-After."""

from __future__ import annotations

import random


def retry_delay(attempt: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Seconds to wait before the attempt after ``attempt`` (1-based).

    Full jitter (uniform in [0, min(cap, base·2^(attempt-1))]) spreads retries of many jobs failing
    together; a destination's Retry-After is honoured as a floor (capped at a day).
    """
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    delay = random.uniform(0, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, 86_400.0))
    return delay
