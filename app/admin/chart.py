"""Geometry of the dashboard's success-rate bar chart (an inline SVG drawn by the template)."""

from __future__ import annotations

from dataclasses import dataclass

from app.admin.stats import DayRate

WIDTH, HEIGHT = 900, 260
TOP, BOTTOM, LEFT = 16, 40, 44  # room for the 100 % label, the day labels and the axis labels
GAP = 14


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the day
    value: str  # "93 %" or "no data"
    tone: str  # good / warn / bad / none
    detail: str  # "14 of 15 delivered"


def _tone(rate: float | None) -> str:
    if rate is None:
        return "none"
    return "good" if rate >= 0.95 else "warn" if rate >= 0.8 else "bad"


def bars(days: list[DayRate]) -> list[Bar]:
    """One bar per day; a day without finished jobs gets a flat placeholder bar."""
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT) / max(1, len(days))
    result = []
    for i, day in enumerate(days):
        rate = day.rate
        h = plot_h * rate if rate is not None else 2
        result.append(
            Bar(
                x=round(LEFT + i * slot + GAP / 2, 1),
                y=round(TOP + plot_h - h, 1),
                width=round(slot - GAP, 1),
                height=round(h, 1),
                label=day.day.strftime("%a %d"),
                value=f"{rate * 100:.0f} %" if rate is not None else "no data",
                tone=_tone(rate),
                detail=f"{day.completed} of {day.finished} delivered" if day.finished else "nothing finished",
            )
        )
    return result


def gridlines() -> list[tuple[float, str]]:
    """Horizontal guides at 0, 50 and 100 %: (y, label)."""
    plot_h = HEIGHT - TOP - BOTTOM
    return [(round(TOP + plot_h * (1 - f), 1), f"{int(f * 100)} %") for f in (0.0, 0.5, 1.0)]
