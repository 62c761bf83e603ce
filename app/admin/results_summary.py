"""A form's results summary for a range of days, summed from its per-day figures (app.models.figures):
one document per day read, whatever the number of submissions. Days are UTC days."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.errors import invalid
from app.models import Form
from app.models.figures import FormFigures, bucket_value, key, kind_of, unkey

DEFAULT_DAYS = 30
MAX_DAYS = 3_660  # a range of at most ten years
FIRST_DAY, LAST_DAY = dt.date(1970, 1, 1), dt.date(9998, 12, 31)  # (no submission is older; no overflow)
TOP_SHOWN = 10  # most frequent text values listed per field
HISTOGRAM_BARS = 10


@dataclass
class Numbers:
    count: int
    min: float
    max: float
    mean: float
    median: float  # approximate: read from buckets of two significant digits
    histogram: list[tuple[float, float, int]]  # (from, to, count); from == to: one value


@dataclass
class FieldSummary:
    name: str
    label: str
    type: str
    kind: str  # "options", "number" or "text"
    filled: int
    total: int
    options: list[tuple[str, int]] = field(default_factory=list)
    numbers: Numbers | None = None
    top: list[tuple[str, int]] = field(default_factory=list)
    other: int = 0  # text values past the ones counted one by one

    @property
    def fill_rate(self) -> float | None:
        return self.filled / self.total if self.total else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "kind": self.kind,
            "filled": self.filled,
            "fill_rate": self.fill_rate,
        }
        if self.kind == "options":
            out["options"] = [
                {"value": v, "count": n, "share": n / self.total if self.total else None}
                for v, n in self.options
            ]
        elif self.kind == "number":
            nums = self.numbers
            out["numbers"] = None
            if nums is not None:
                out["numbers"] = {
                    "count": nums.count,
                    "min": nums.min,
                    "max": nums.max,
                    "mean": nums.mean,
                    "median_approx": nums.median,
                    "histogram": [{"from": a, "to": b, "count": n} for a, b, n in nums.histogram],
                }
        else:
            out["top"] = [{"value": v, "count": n} for v, n in self.top]
            out["other"] = self.other
        return out


@dataclass
class Summary:
    start: dt.date
    end: dt.date
    days: list[tuple[dt.date, int]]
    fields: list[FieldSummary]

    @property
    def total(self) -> int:
        return sum(n for _, n in self.days)

    def to_dict(self, form: Form) -> dict[str, Any]:
        return {
            "form_id": str(form.id),
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "timezone": "UTC",
            "total": self.total,
            "days": [{"day": d.isoformat(), "count": n} for d, n in self.days],
            "fields": [f.to_dict() for f in self.fields],
        }


def date_range(args: Mapping[str, str], today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """``from`` and ``to`` (YYYY-MM-DD, both included); by default the last ``DEFAULT_DAYS`` days. 400 for
    a date that is not one, a range that ends before it starts or spans more than ``MAX_DAYS``."""
    today = today or dt.datetime.now(dt.UTC).date()
    errors: dict[str, list[str]] = {}
    found: dict[str, dt.date] = {}
    for name in ("from", "to"):
        raw = (args.get(name) or "").strip()
        if not raw:
            continue
        try:
            found[name] = dt.date.fromisoformat(raw)
        except ValueError:
            errors[name] = ["Give a day as YYYY-MM-DD."]
            continue
        if not FIRST_DAY <= found[name] <= LAST_DAY:
            errors[name] = [f"Give a day from {FIRST_DAY} to {LAST_DAY}."]
    if errors:
        raise invalid(errors)
    end = found.get("to", today)
    start = found.get("from", end - dt.timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        raise invalid({"from": ["The range starts after it ends."]})
    if (end - start).days + 1 > MAX_DAYS:
        raise invalid({"to": [f"A range spans at most {MAX_DAYS:,} days."]})
    return start, end


def summarise(form: Form, start: dt.date, end: dt.date) -> Summary:
    """The summary of ``form`` from ``start`` to ``end`` (UTC days, both included): its whole months from
    the month documents, the days of the months it covers in part from the day documents."""
    docs = _figures(str(form.id), start, end)
    per_day: Counter[str] = Counter()
    for doc in docs:
        if doc.get("span") == "month":
            per_day.update({f"{doc['day']}-{dd}": n for dd, n in doc.get("days", {}).items()})
        else:
            per_day[doc["day"]] += doc.get("count", 0)
    days = [
        (day, per_day.get(day.isoformat(), 0))
        for day in (start + dt.timedelta(days=i) for i in range((end - start).days + 1))
    ]
    total = sum(n for _, n in days)
    fields = [
        _field(f.to_dict(), [d.get("fields", {}).get(key(f.name), {}) for d in docs], total)
        for f in form.fields
    ]
    return Summary(start, end, days, fields)


def _figures(form_id: str, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """The figures documents covering ``start``..``end`` exactly, fewest first: whole months, and days."""
    coll = FormFigures._get_collection()
    months, partial = _split(start, end)
    docs = []
    if months:
        query = {"form_id": {"$eq": form_id}, "span": {"$eq": "month"}, "day": {"$gte": months[0], "$lte": months[-1]}}
        docs += list(coll.find(query))
    for first, last in partial:
        query = {"form_id": {"$eq": form_id}, "span": {"$eq": "day"}, "day": {"$gte": first, "$lte": last}}
        docs += list(coll.find(query))
    return docs


def _split(start: dt.date, end: dt.date) -> tuple[list[str], list[tuple[str, str]]]:
    """The whole months (YYYY-MM) of a range, and its days in months it covers in part (at most two runs)."""
    months: list[str] = []
    partial: list[tuple[str, str]] = []
    first = start.replace(day=1)
    while first <= end:
        following = (first + dt.timedelta(days=32)).replace(day=1)
        lo, hi = max(start, first), min(end, following - dt.timedelta(days=1))
        if lo == first and hi == following - dt.timedelta(days=1):
            months.append(first.strftime("%Y-%m"))
        else:
            partial.append((lo.isoformat(), hi.isoformat()))
        first = following
    return months, partial


def _field(spec: Mapping[str, Any], parts: list[Mapping[str, Any]], total: int) -> FieldSummary:
    kind = kind_of(spec["type"])
    summary = FieldSummary(
        name=spec["name"],
        label=spec["label"],
        type=spec["type"],
        kind={"o": "options", "n": "number", "t": "text"}[kind],
        filled=sum(p.get("filled", 0) for p in parts),
        total=total,
    )
    if kind == "o":
        counts = _sum(p.get("o", {}) for p in parts)
        declared = spec.get("options") or (["yes", "no"] if spec["type"] == "checkbox" else [])
        seen = [o for o, n in counts.most_common() if o not in declared and n > 0]
        summary.options = [(o, counts.get(o, 0)) for o in [*declared, *seen]]
    elif kind == "n":
        summary.numbers = _numbers([p["n"] for p in parts if p.get("n", {}).get("c")])
    else:
        texts = [p.get("t", {}) for p in parts]
        summary.top = [(v, n) for v, n in _sum(t.get("v", {}) for t in texts).most_common(TOP_SHOWN) if n > 0]
        summary.other = sum(t.get("x", 0) for t in texts)
    return summary


def _sum(maps: Iterable[Mapping[str, int]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for m in maps:
        for stored, n in m.items():
            total[unkey(stored)] += n
    return total


def _numbers(parts: list[Mapping[str, Any]]) -> Numbers | None:
    count = sum(p["c"] for p in parts)
    if count <= 0:
        return None
    buckets: Counter[float] = Counter()
    for p in parts:
        for stored, n in p.get("b", {}).items():
            buckets[bucket_value(stored)] += n
    values = sorted(v for v, n in buckets.items() if n > 0)
    return Numbers(
        count=count,
        min=min(p["lo"] for p in parts),
        max=max(p["hi"] for p in parts),
        mean=sum(p["s"] for p in parts) / count,
        median=_median(values, buckets, count),
        histogram=_histogram(values, buckets),
    )


def _median(values: list[float], buckets: Mapping[float, int], count: int) -> float:
    half, seen = (count + 1) / 2, 0
    for v in values:
        seen += buckets[v]
        if seen >= half:
            return v
    return values[-1] if values else 0.0


def _histogram(values: list[float], buckets: Mapping[float, int]) -> list[tuple[float, float, int]]:
    """One bar per value when there are few (ratings, ages in a small range), else equal-width bins."""
    if len(values) <= HISTOGRAM_BARS:
        return [(v, v, buckets[v]) for v in values]
    lo, hi = values[0], values[-1]
    width = (hi - lo) / HISTOGRAM_BARS
    counts = [0] * HISTOGRAM_BARS
    for v in values:
        counts[min(HISTOGRAM_BARS - 1, int((v - lo) / width))] += buckets[v]
    return [(lo + i * width, lo + (i + 1) * width, n) for i, n in enumerate(counts)]
