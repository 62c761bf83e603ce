"""The submissions browser's columns: which fields show (chosen in the query string, ``col=`` once per
field; the form's first four by default), each under its label, and which sorts a page offers (only by a
column it shows)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from werkzeug.datastructures import MultiDict

from app.models import Form

DEFAULT_COLUMNS = 4


@dataclass(frozen=True)
class Columns:
    """Every field of the forms in scope (name → label, in the forms' order) and the ones shown."""

    labels: dict[str, str]
    shown: list[str]
    chosen: bool  # the viewer picked them (else the defaults)

    @classmethod
    def read(cls, args: MultiDict[str, str], forms: Iterable[Form]) -> Columns:
        labels: dict[str, str] = {}
        for form in forms:
            for f in form.fields:
                labels.setdefault(f.name, f.label or f.name)
        wanted = set(args.getlist("col"))
        shown = [name for name in labels if name in wanted]  # (unknown names are ignored)
        if shown:
            return cls(labels, shown, True)
        return cls(labels, list(labels)[:DEFAULT_COLUMNS], False)

    def label(self, name: str) -> str:
        return self.labels.get(name, name)

    def sortable(self, sort: str) -> bool:
        """Whether a page may sort by ``sort``: by time, or by a column it shows."""
        field, _, direction = sort.partition(":")
        return not direction or field in self.shown

    def as_args(self) -> dict[str, list[str]]:
        """The query string that keeps this choice (nothing for the defaults)."""
        return {"col": self.shown} if self.chosen else {}
