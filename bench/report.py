"""The bench's results: figures with their targets, printed as a table and written as JSON."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Figure:
    """One measured figure; ``passed`` is None when the figure has no target (or was not measured)."""

    key: str
    label: str
    value: float | None
    unit: str = ""
    target: str = ""
    passed: bool | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "SKIP"
        return {True: "PASS", False: "FAIL", None: "-"}[self.passed]

    def shown(self) -> str:
        if self.value is None:
            return "n/a"
        if self.unit == "ratio":
            return f"{self.value:.0%}"
        if self.unit == "x":
            return f"{self.value:.2f}x"
        digits = 0 if abs(self.value) >= 100 else 1
        return f"{self.value:,.{digits}f} {self.unit}".strip()


def at_least(value: float | None, minimum: float) -> bool | None:
    return None if value is None else value >= minimum


def at_most(value: float | None, maximum: float) -> bool | None:
    return None if value is None else value <= maximum


@dataclass
class Report:
    settings: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def get(self, key: str) -> float | None:
        return next((f.value for f in self.figures if f.key == key), None)

    def table(self) -> str:
        rows = [("figure", "value", "target", "result")]
        rows += [(f.label, f.shown(), f.target, f.verdict) for f in self.figures]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        line = "  ".join("-" * w for w in widths)
        out = [line]
        for n, row in enumerate(rows):
            out.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
            if n == 0:
                out.append(line)
        out.append(line)
        notes = [f"{f.label}: {f.note}" for f in self.figures if f.note] + self.notes
        out += [f"  * {n}" for n in notes]
        return "\n".join(out)

    def as_json(self) -> dict[str, Any]:
        return {
            "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "settings": self.settings,
            "figures": [{**asdict(f), "result": f.verdict} for f in self.figures],
            "notes": self.notes,
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(), indent=2, default=str) + "\n")
