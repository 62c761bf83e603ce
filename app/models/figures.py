"""Per-form, per-day figures of the submissions (the results summary), kept as submissions are indexed.

One ``FormFigures`` document per form and UTC day, and one per form and month (``span``; the month's also
counts per day): how many submissions (not deleted) it received and, per declared field, what they held:

- options (select, checkbox): a count per option;
- numbers: count, sum, min, max and a histogram whose buckets are the values rounded to two significant
  digits (``38e-2`` is 0.38): mergeable across days, so a median read from them is approximate (±5 %);
- text (any other type): how many filled it and the most frequent values, at most ``TOP_VALUES`` distinct
  values per field and day (later ones count as "other"); values are cut at ``VALUE_CHARS`` characters.

A date range sums a bounded number of documents whatever the form's size: its whole months, and the days
of at most two partial months (a year: at most 13 months and 60 days; on nx-27017 a document costs ~1.5 ms).

What a submission adds is its ``basis`` (kept on the submission as ``figures_basis``, so an edit or a
delete can take exactly that back: see app.engine.indexer). Edits and deletes adjust every figure except
a number field's min and max, which keep the values once counted that day (they never narrow).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mongoengine import DictField, Document, IntField, StringField

from app.models.common import as_datetime
from app.models.search_terms import text_of

TOP_VALUES = 50  # distinct text values counted per field and day; the others are "other"
VALUE_CHARS = 64  # a text value is counted by its first characters
OPTION_TYPES = ("select", "checkbox")
NUMBER_TYPES = ("number",)


class FormFigures(Document):
    """A form's figures for one UTC day (see the module's docstring for ``fields``)."""

    id = StringField(primary_key=True)  # "<form id> <YYYY-MM-DD>" or "<form id> <YYYY-MM>"
    form_id = StringField(required=True)
    span = StringField(required=True, choices=("day", "month"))
    day = StringField(required=True)  # YYYY-MM-DD, or YYYY-MM for a month (UTC)
    days = DictField()  # a month's: submissions per day ("DD": n)
    seq = IntField(default=0)  # the indexer batch that wrote it last (a batch done again skips it)
    count = IntField(default=0)
    fields = DictField()

    meta = {"collection": "form_figures", "indexes": [{"fields": ["form_id", "span", "day"]}]}


def figures_id(form_id: str, period: str) -> str:
    """The id of a form's figures for a day (YYYY-MM-DD) or a month (YYYY-MM)."""
    return f"{form_id} {period}"


def periods(day: str) -> tuple[str, str]:
    """The day and the month a submission of ``day`` counts in."""
    return day, day[:7]


def day_of(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def key(text: str) -> str:
    """``text`` as a document key (no ``.``, no leading ``$``, no NUL): %-escaped."""
    return text.replace("%", "%25").replace(".", "%2E").replace("$", "%24").replace("\0", "%00")


def unkey(stored: str) -> str:
    return stored.replace("%00", "\0").replace("%24", "$").replace("%2E", ".").replace("%25", "%")


def kind_of(field_type: str) -> str:
    """ "o" (options), "n" (numbers) or "t" (text) for a form field's type."""
    return "o" if field_type in OPTION_TYPES else "n" if field_type in NUMBER_TYPES else "t"


def bucket(value: float) -> str:
    """The histogram bucket of a number: it rounded to two significant digits, as ``<mantissa>e<exp>``."""
    if value == 0:
        return "0e0"
    mantissa, exponent = f"{abs(value):.1e}".split("e")
    digits = int(mantissa.replace(".", ""))
    return f"{'-' if value < 0 else ''}{digits}e{int(exponent) - 1}"


def bucket_value(stored: str) -> float:
    return float(stored)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _options(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [text for v in values if v is not None and (text := text_of(v).strip())]


def basis(form_fields: Iterable[Mapping[str, Any]], doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """What a submission adds to its form's figures (None: nothing, it is deleted): its day and, per
    declared field, ``{"o": [options]}``, ``{"n": number or None}`` or ``{"t": text ("" when empty)}``."""
    if doc.get("deleted"):
        return None
    data = doc.get("data") or {}
    counted: dict[str, Any] = {}
    for f in form_fields:
        value = data.get(f["name"])
        kind = kind_of(f.get("type", "text"))
        if kind == "o":
            counted[key(f["name"])] = {"o": _options(value)}
        elif kind == "n":
            counted[key(f["name"])] = {"n": _number(value)}
        else:
            counted[key(f["name"])] = {"t": text_of(value).strip()[:VALUE_CHARS]}
    return {"day": day_of(as_datetime(doc["created_at"])), "f": counted}


def empty(form_id: str, period: str) -> dict[str, Any]:
    span = "month" if len(period) == 7 else "day"
    doc = {"_id": figures_id(form_id, period), "form_id": form_id, "span": span, "day": period, "seq": 0}
    doc.update({"count": 0, "fields": {}, **({"days": {}} if span == "month" else {})})
    return doc


def apply(figures: dict[str, Any], counted: Mapping[str, Any], sign: int) -> None:
    """Add (``sign`` 1) or take back (-1) a submission's ``basis`` to its day's or month's ``figures``, in
    place."""
    figures["count"] += sign
    if figures.get("span") == "month":
        day = counted["day"][8:]
        figures["days"][day] = figures["days"].get(day, 0) + sign
    for name, token in counted["f"].items():
        field = figures["fields"].setdefault(name, {"filled": 0})
        if "o" in token:
            options = field.setdefault("o", {})
            for option in token["o"]:
                options[key(option)] = options.get(key(option), 0) + sign
            field["filled"] += sign if token["o"] else 0
        elif "n" in token:
            if token["n"] is None:
                continue
            number = token["n"]
            stats = field.setdefault("n", {"c": 0, "s": 0.0, "lo": number, "hi": number, "b": {}})
            stats["c"] += sign
            stats["s"] += sign * number
            stats["lo"], stats["hi"] = min(stats["lo"], number), max(stats["hi"], number)
            stats["b"][bucket(number)] = stats["b"].get(bucket(number), 0) + sign
            field["filled"] += sign
        elif token.get("t"):
            text = field.setdefault("t", {"v": {}, "x": 0})
            value = key(token["t"])
            # A value is kept once seen with room (then always counted there), else it is "other": so
            # taking one back finds it where it was counted.
            if value in text["v"] or (sign > 0 and len(text["v"]) < TOP_VALUES):
                text["v"][value] = text["v"].get(value, 0) + sign
            else:
                text["x"] += sign
            field["filled"] += sign


def forget(figures: dict[str, Any], held: Callable[[str], bool]) -> bool:
    """Take the text values ``held`` says hold a person's data out of ``figures`` (a day's or a month's),
    in place: their counts go to "other", as a value counted without room would. Whether any was."""
    changed = False
    for field in (figures.get("fields") or {}).values():
        text = field.get("t") or {}
        for value in [v for v in text.get("v") or {} if held(unkey(v))]:
            text["x"] = text.get("x", 0) + text["v"].pop(value)
            changed = True
    return changed


def tally(form_id: str, form_fields: Iterable[Mapping[str, Any]], docs: Iterable[Mapping[str, Any]]) -> list[dict]:
    """The figures documents (days and months) of a form holding ``docs``, computed in one go: for seeding
    a store directly (bench/, tests) with what the indexer would have written. Seeded submissions should
    carry their ``basis`` as ``figures_basis`` so that an edit takes back what they added."""
    found: dict[str, dict[str, Any]] = {}
    fields = list(form_fields)
    for doc in docs:
        if (counted := basis(fields, doc)) is not None:
            for period in periods(counted["day"]):
                apply(found.setdefault(period, empty(form_id, period)), counted, 1)
    return list(found.values())
