"""Hard limits on one template render, checked in line by the sandbox (never by a watchdog thread).

A template is code an editor of any workspace writes; these budgets keep one render from eating the CPU
or the memory of a process that delivers for everyone. Each check runs before the costly operation
where it can (a width, a power, a range's length) and on the values that come out of calls and of the
output stream otherwise. A render that overruns raises ``BudgetExceeded``, which the templating module
turns into a permanent error such as "Subject template: output larger than 64 KiB".
"""

from __future__ import annotations

import contextvars
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from jinja2.sandbox import SecurityError

LOG2_10 = 3.3219280948873623


class BudgetExceeded(SecurityError):
    """A render went over one of its limits; ``limit`` names which (for metrics)."""

    def __init__(self, limit: str, message: str):
        super().__init__(message)
        self.limit = limit


@dataclass(frozen=True)
class TemplateBudget:
    """The limits of one render. ``from_settings`` reads the TEMPLATE_* settings."""

    max_output: int = 64 * 1024  # characters of one rendered field, and of any value built on the way
    max_iterations: int = 10_000  # loop iterations of one render, all loops together
    max_int_digits: int = 1_000  # decimal digits of any integer computed
    max_seconds: float = 0.5  # CPU time of one render (its thread's: a loaded host's waits are not its cost)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> TemplateBudget:
        return cls(
            max_output=int(settings.get("TEMPLATE_MAX_OUTPUT_KB", 64)) * 1024,
            max_iterations=int(settings.get("TEMPLATE_MAX_ITERATIONS", cls.max_iterations)),
            max_int_digits=int(settings.get("TEMPLATE_MAX_INT_DIGITS", cls.max_int_digits)),
            max_seconds=float(settings.get("TEMPLATE_MAX_SECONDS", cls.max_seconds)),
        )

    @property
    def output_words(self) -> str:
        kib = self.max_output / 1024
        return f"{kib:g} KiB" if kib >= 1 else f"{self.max_output} characters"


@dataclass
class Spending:
    """What the current render has used so far."""

    budget: TemplateBudget
    started: float = field(default_factory=time.thread_time)
    iterations: int = 0
    shared: bool = False  # the budget of several renders (``one_budget``): each spends from it

    def check_time(self) -> None:
        if time.thread_time() - self.started > self.budget.max_seconds:
            raise BudgetExceeded("time", f"rendering took longer than {self.budget.max_seconds:g} s")

    def iterate(self, n: int = 1) -> None:
        self.iterations += n
        if self.iterations > self.budget.max_iterations:
            raise BudgetExceeded("iterations", f"more than {self.budget.max_iterations:,} loop iterations")

    def check_size(self, size: int, what: str = "a value") -> None:
        if size > self.budget.max_output:
            raise BudgetExceeded("output", f"{what} larger than {self.budget.output_words}")

    def check_width(self, width: Any) -> None:
        if isinstance(width, int) and not isinstance(width, bool) and width > self.budget.max_output:
            raise BudgetExceeded("width", f"a width or count of {width:,} is over the limit")

    def check_int(self, bits: float) -> None:
        if bits > self.budget.max_int_digits * LOG2_10:
            raise BudgetExceeded("integer", f"a number with more than {self.budget.max_int_digits:,} digits")

    def check_value(self, value: Any) -> Any:
        """A value that came out of a call or an operator: not too long, not too big a number."""
        if isinstance(value, str):
            self.check_size(len(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            self.check_int(value.bit_length())
        return value

    def check_format(self, fmt: str, args: Iterable[Any] = ()) -> None:
        """Widths and precisions of ``str.format``/``%`` templates, written out or passed as arguments."""
        for digits in _FORMAT_NUMBERS.findall(fmt):
            self.check_width(int(digits))
        if "*" in fmt or "{" in fmt:
            for arg in args:
                self.check_width(arg)

    def check_join(self, items: Iterable[Any], sep: str) -> list[Any]:
        """The items of a join, counted before the joined string is built."""
        listed = list(items) if not isinstance(items, list | tuple) else items
        self.iterate(len(listed))
        self.check_size(sum(len(str(item)) for item in listed) + len(sep) * max(0, len(listed) - 1))
        return list(listed)

    def budget_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """A loop's iterable, counted as it goes (and refused at once when its length alone is too much)."""
        size = len(iterable) if hasattr(iterable, "__len__") else None  # type: ignore[arg-type]
        if size is not None and self.iterations + size > self.budget.max_iterations:
            self.iterate(size)
        for item in iterable:
            self.iterate()
            self.check_time()
            yield item


# Digit runs that a format spec reads as a width or precision: "{:>50000}", "{0:.9999f}", "%50000d".
_FORMAT_NUMBERS = re.compile(r"\d+")

_current: contextvars.ContextVar[Spending | None] = contextvars.ContextVar("template_spending", default=None)
_default = TemplateBudget()


def configure(budget: TemplateBudget) -> None:
    """Set this process's budget (the app factory and each plugin worker process call it)."""
    global _default
    _default = budget


def current_budget() -> TemplateBudget:
    return _default


def spending() -> Spending:
    """The current render's spending; outside a render (e.g. constant folding) a fresh one."""
    return _current.get() or Spending(_default)


def start() -> contextvars.Token:
    """A render's budget: a fresh one, or the shared one it is part of (``one_budget``)."""
    outer = _current.get()
    return _current.set(outer if outer is not None and outer.shared else Spending(_default))


@contextmanager
def one_budget() -> Iterator[None]:
    """The renders within share one budget (a workflow step's config: its templates, however many, take
    at most one template's time and loop iterations together)."""
    token = _current.set(Spending(_default, shared=True))
    try:
        yield
    finally:
        _current.reset(token)


def stop(token: contextvars.Token) -> None:
    _current.reset(token)


def stream(chunks: Iterable[str]) -> str:
    """Join a template's output stream, refusing it as soon as it is too long or too slow."""
    spent = spending()
    out: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        spent.check_size(size, "output")
        spent.check_time()
        out.append(chunk)
    return "".join(out)
