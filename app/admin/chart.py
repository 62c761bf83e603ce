"""Geometry of the dashboard's bar charts (inline SVGs drawn by the template).

Readable at 390 px: the SVG scales to the width, so with many bars only every n-th axis label is drawn
and value labels are left to the tooltip and the table under each chart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDTH, HEIGHT = 900, 260
TOP, BOTTOM, LEFT = 16, 40, 56  # room for the top label, the bucket labels and the axis labels
GAP = 10
MAX_LABELS = 8  # axis labels drawn at most, so they stay legible on a phone
MAX_VALUE_LABELS = 10  # value labels above bars only with this few bars


@dataclass
class Point:
    """One bucket's value in a series."""

    label: str  # the bucket ("Mon 03", "14:00")
    value: float | None  # None: no data
    text: str  # the value as shown ("93 %", "1.2 s", "no data")
    detail: str  # "14 of 15 delivered"
    tone: str = "volume"  # good / warn / bad / none / volume / p50 / p95


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str
    tone: str
    detail: str
    show_label: bool  # draw the bucket label under this bar
    show_value: bool  # draw the value above this bar


def rate_tone(rate: float | None) -> str:
    if rate is None:
        return "none"
    return "good" if rate >= 0.95 else "warn" if rate >= 0.8 else "bad"


def bars(points: list[Point], top: float, series: int = 0, of: int = 1) -> list[Bar]:
    """Bars of one series (``series`` of ``of`` side by side per bucket); ``top`` is the axis maximum.
    A bucket without data gets a flat placeholder bar."""
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT) / max(1, len(points))
    width = (slot - GAP) / of
    every = math.ceil(len(points) / MAX_LABELS)
    result = []
    for i, p in enumerate(points):
        h = plot_h * min(1.0, p.value / top) if p.value is not None and top > 0 else 2
        x = LEFT + i * slot + GAP / 2 + series * width
        result.append(
            Bar(
                x=round(x, 1),
                y=round(TOP + plot_h - h, 1),
                width=round(max(1.0, width), 1),
                height=round(max(h, 2), 1),
                label=p.label,
                value=p.text,
                tone=p.tone if p.value is not None else "none",
                detail=p.detail,
                show_label=series == 0 and (len(points) - 1 - i) % every == 0,
                show_value=len(points) <= MAX_VALUE_LABELS and of == 1,
            )
        )
    return result


def nice_top(values: list[float | None], floor: float = 1.0) -> float:
    """An axis maximum at or above the largest value: 1, 2 or 5 times a power of ten."""
    largest = max([v for v in values if v is not None] or [0.0])
    if largest <= floor:
        return floor
    power = 10 ** math.floor(math.log10(largest))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= largest)


def gridlines(top: float, fmt) -> list[tuple[float, str]]:
    """Horizontal guides at 0, half and the top of the axis: (y, label)."""
    plot_h = HEIGHT - TOP - BOTTOM
    return [(round(TOP + plot_h * (1 - f), 1), fmt(top * f)) for f in (0.0, 0.5, 1.0)]
