"""Conditional triggers: rules on a submission's fields that decide whether an integration runs for an event.

A condition set is ``{"match": "all"|"any", "rules": [...], "on_edit": "always"|"newly_matching"}``. A rule
is ``{"field", "op", "value"}`` or one level of group ``{"match": "all"|"any", "rules": [rule, ...]}``.
Patterns run on RE2 (linear time, no backtracking) and are refused when they compile to a large program or
repeat a lot (``{n,m}``); they look at a bounded prefix of the value. Evaluating the conditions of one event
has a CPU-time ``Budget``, checked between rules and while walking a list value: past it, ``OverBudget`` is
raised and the caller decides (dispatch: the event does not match and the integration counts it).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import time
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import re2

OPERATORS: dict[str, str] = {
    "equals": "equals",
    "not_equals": "does not equal",
    "contains": "contains",
    "starts_with": "starts with",
    "in": "is one of",
    "gt": "is greater than",
    "gte": "is at least",
    "lt": "is less than",
    "lte": "is at most",
    "is_empty": "is empty",
    "is_not_empty": "is not empty",
    "matches": "matches the pattern",
}
UNARY = {"is_empty", "is_not_empty"}
ORDERED = {"gt", "gte", "lt", "lte"}
MAX_RULES = 50  # in a whole condition set, the rules of its groups included
MAX_PATTERN = 500
MAX_PROGRAM = 1000  # instructions of a compiled pattern (forward and reverse)
MAX_REPETITION = 200  # the bounds of counted repetitions added up, nested ones multiplied
MAX_VALUE = 1000
MAX_LIST = 200
MAX_MATCHED_TEXT = 4096  # `matches` looks at a value's first 4,096 characters
EVENT_BUDGET = 0.1  # seconds of CPU time for the conditions of one event (all its integrations)
_LIST_CHECK_EVERY = 64  # list items compared between two looks at the budget

Match = Literal["all", "any"]


class ConditionError(ValueError):
    """A condition set that cannot be used; ``messages`` is keyed like the request (``rules.0.value``)."""

    def __init__(self, messages: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in messages.items()))
        self.messages = messages


class OverBudget(Exception):
    """Evaluating conditions took more than its ``Budget``; the outcome is unknown."""


class Budget:
    """CPU time of this thread that evaluating conditions may take, from when it is made.

    CPU time, not wall time: a busy machine must not turn ordinary conditions into "over budget".
    """

    def __init__(self, seconds: float = EVENT_BUDGET):
        self.seconds = seconds
        self.started = time.thread_time()

    @property
    def spent(self) -> float:
        return time.thread_time() - self.started

    def check(self) -> None:
        """Raise ``OverBudget`` once the budget is spent."""
        if self.spent > self.seconds:
            raise OverBudget(f"conditions took more than {self.seconds * 1000:.0f} ms of CPU")


@dataclass(frozen=True)
class Rule:
    """One comparison of a submission field with a value."""

    field: str
    op: str
    value: Any = None

    def test(self, data: Mapping[str, Any], budget: Budget) -> bool:
        budget.check()
        return _compare(self.op, data.get(self.field), self.value, budget)


@dataclass(frozen=True)
class Group:
    """Rules combined with all (and) or any (or)."""

    match: Match
    rules: tuple[Rule | Group, ...]

    def test(self, data: Mapping[str, Any], budget: Budget) -> bool:
        combine = all if self.match == "all" else any
        return combine(rule.test(data, budget) for rule in self.rules)


@dataclass(frozen=True)
class Conditions:
    """A parsed condition set."""

    root: Group
    on_edit: Literal["always", "newly_matching"] = "always"

    def to_dict(self) -> dict[str, Any]:
        """The canonical stored and API shape."""
        return {
            "match": self.root.match,
            "rules": [_rule_dict(r) for r in self.root.rules],
            "on_edit": self.on_edit,
        }

    def matches(self, data: Mapping[str, Any] | None, budget: Budget | None = None) -> bool:
        """Whether ``data`` matches; raises ``OverBudget`` past ``budget`` (by default one event's)."""
        return self.root.test(data or {}, budget or Budget())

    def admits(
        self,
        event: str,
        data: Mapping[str, Any] | None,
        previous: Mapping[str, Any] | None,
        budget: Budget | None = None,
    ) -> bool:
        """Whether ``event`` with this submission data (and, for edits, the data before) creates a job.

        Raises ``OverBudget`` past ``budget`` (by default one event's)."""
        budget = budget or Budget()
        if not self.matches(data, budget):
            return False
        if event == "response.edited" and self.on_edit == "newly_matching" and previous is not None:
            return not self.matches(previous, budget)
        return True


def parse(raw: Any, field_names: Iterable[str] | None = None, *, limits: bool = True) -> Conditions | None:
    """Validate a condition set from the API. ``None`` or an empty rule list means "always".

    With ``field_names`` (the form's declared fields), rules on unknown fields are refused. ``limits``: refuse
    sets with too many rules and patterns too costly to run (a save); without, a stored set saved before these
    limits still runs (its CPU budget bounds it).
    """
    if raw is None:
        return None
    errors: dict[str, list[str]] = {}
    if not isinstance(raw, Mapping):
        raise ConditionError({"conditions": ["Must be an object with match and rules."]})
    unknown = set(raw) - {"match", "rules", "on_edit"}
    if unknown:
        errors["conditions"] = [f"Unknown key {sorted(unknown)[0]!r}."]
    on_edit = raw.get("on_edit", "always")
    if on_edit not in ("always", "newly_matching"):
        errors["on_edit"] = ["Must be 'always' or 'newly_matching'."]
    if limits and _rule_count(raw.get("rules")) > MAX_RULES:
        raise ConditionError({"rules": [f"At most {MAX_RULES} rules in all, those in groups included."]})
    root = _group(raw, "", errors, 0, limits)
    known = set(field_names) if field_names is not None else None
    if known and root is not None:
        for path, rule in _walk(root, ""):
            if rule.field not in known:
                errors.setdefault(f"{path}field", []).append(f"The form has no field {rule.field!r}.")
    if errors:
        raise ConditionError(errors)
    assert root is not None
    return Conditions(root, on_edit) if root.rules else None


def parse_stored(raw: Mapping[str, Any] | None) -> Conditions | None:
    """A condition set as stored on a config (already validated when saved)."""
    return parse(raw, limits=False) if raw else None


def _rule_count(rules: Any) -> int:
    """The rules of a raw condition set, counted before any is parsed (a group's rules counted, not the group)."""
    if not isinstance(rules, list):
        return 0
    return sum(
        len(item["rules"]) if isinstance(item, Mapping) and isinstance(item.get("rules"), list) else 1
        for item in rules
    )


def _rule_dict(rule: Rule | Group) -> dict[str, Any]:
    if isinstance(rule, Group):
        return {"match": rule.match, "rules": [_rule_dict(r) for r in rule.rules]}
    return {"field": rule.field, "op": rule.op, "value": rule.value}


def _walk(group: Group, prefix: str) -> Iterable[tuple[str, Rule]]:
    for i, rule in enumerate(group.rules):
        path = f"{prefix}rules.{i}."
        if isinstance(rule, Group):
            yield from _walk(rule, path)
        else:
            yield path, rule


def _group(
    raw: Mapping[str, Any], prefix: str, errors: dict[str, list[str]], depth: int, limits: bool
) -> Group | None:
    match = raw.get("match", "all")
    if match not in ("all", "any"):
        errors[f"{prefix}match"] = ["Must be 'all' or 'any'."]
    rules_raw = raw.get("rules", [])
    if not isinstance(rules_raw, list):
        errors[f"{prefix}rules"] = ["Must be a list."]
        return None
    if len(rules_raw) > MAX_RULES:
        errors[f"{prefix}rules"] = [f"At most {MAX_RULES} rules."]
        return None
    rules: list[Rule | Group] = []
    for i, item in enumerate(rules_raw):
        path = f"{prefix}rules.{i}."
        if isinstance(item, Mapping) and "rules" in item:
            if depth >= 1:
                errors[f"{path}rules"] = ["Groups cannot be nested more than one level."]
                continue
            if set(item) - {"match", "rules"}:
                errors[f"{path}rules"] = ["A group has only match and rules."]
                continue
            group = _group(item, path, errors, depth + 1, limits)
            if group is not None:
                rules.append(group)
        elif (rule := _rule(item, path, errors, limits)) is not None:
            rules.append(rule)
    return Group(match, tuple(rules)) if match in ("all", "any") else None


def _rule(raw: Any, path: str, errors: dict[str, list[str]], limits: bool) -> Rule | None:
    if not isinstance(raw, Mapping):
        errors[path.rstrip(".")] = ["Each rule is an object with field, op and value."]
        return None
    field, op, value = raw.get("field"), raw.get("op"), raw.get("value")
    bad = len(errors)
    if set(raw) - {"field", "op", "value"}:
        errors[path.rstrip(".")] = ["A rule has only field, op and value."]
    if not isinstance(field, str) or not field.strip():
        errors[f"{path}field"] = ["Name a field."]
    if op not in OPERATORS:
        errors[f"{path}op"] = [f"Must be one of: {', '.join(OPERATORS)}."]
    elif op in UNARY:
        value = None
    elif op == "in":
        if not isinstance(value, list) or not value or len(value) > MAX_LIST:
            errors[f"{path}value"] = [f"Give a list of 1 to {MAX_LIST} values."]
        elif any(not _scalar(v) for v in value):
            errors[f"{path}value"] = ["List items must be text, numbers or true/false."]
    elif op == "matches":
        if not isinstance(value, str) or not value or len(value) > MAX_PATTERN:
            errors[f"{path}value"] = [f"Give a pattern of 1 to {MAX_PATTERN} characters."]
        elif (problem := _pattern_problem(value, limits)) is not None:
            errors[f"{path}value"] = [problem]
    elif op in ORDERED:
        if _number(value) is None and _date(value) is None:
            errors[f"{path}value"] = ["Give a number or a date (YYYY-MM-DD) to compare with."]
    elif not _scalar(value) or value is None:
        errors[f"{path}value"] = ["Give a text, number or true/false value."]
    elif isinstance(value, str) and len(value) > MAX_VALUE:
        errors[f"{path}value"] = [f"At most {MAX_VALUE} characters."]
    if len(errors) > bad or not isinstance(field, str) or not isinstance(op, str):
        return None
    return Rule(field.strip(), op, value)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.max_mem = 1 << 20


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    return re2.compile(pattern, _RE2_OPTIONS)


def _pattern_problem(pattern: str, limits: bool = True) -> str | None:
    try:
        compiled = _compiled(pattern)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        if "too large" in reason:
            return _TOO_COMPLEX.format(why="it compiles to more steps than fit in memory")
        return f"Not a valid pattern ({reason}); backreferences and look-arounds are not supported."
    if not limits:
        return None
    if (repeated := repetition(pattern)) > MAX_REPETITION:
        return (
            f"The counted repetitions ({{n,m}}) of this pattern add up to {repeated}, nested ones multiplied; "
            f"at most {MAX_REPETITION}."
        )
    size = max(compiled.programsize, compiled.reverseprogramsize)
    if size > MAX_PROGRAM:
        return _TOO_COMPLEX.format(why=f"it compiles to {size} steps, at most {MAX_PROGRAM}")
    return None


_TOO_COMPLEX = "This pattern is too complex to check quickly ({why}): use fewer or smaller repetitions."


_COUNTED = re.compile(r"\{(\d+)(?:(,)(\d*))?\}")


def repetition(pattern: str) -> int:
    """The bounds of a pattern's counted repetitions (``{n}``, ``{n,}``, ``{n,m}``) added up, those of nested
    ones multiplied by the enclosing bounds: ``(?:a{250}){4}`` is 4 × (1 + 250) = 1004."""
    # One frame per open group: [repetition of the atoms before the last one, repetition of the last atom]
    frames = [[0, 0]]
    i, n = 0, len(pattern)
    while i < n:
        char, frame = pattern[i], frames[-1]
        if char == "(":
            frames.append([0, 0])
            i += 1
            continue
        if char == ")" and len(frames) > 1:
            inner = sum(frames.pop())
            frames[-1][0] += frames[-1][1]
            frames[-1][1] = inner
            i += 1
            continue
        if char == "{" and (counted := _COUNTED.match(pattern, i)) is not None:
            low, comma, high = counted.groups()
            bound = int(high) if comma and high else int(low)
            frame[1] = bound * (1 + frame[1])
            i = counted.end()
            continue
        if char == "|":
            frame[0], frame[1] = frame[0] + frame[1], 0
            i += 1
            continue
        if char in "*+?":
            i += 1
            continue
        frame[0], frame[1] = frame[0] + frame[1], 0  # a new atom
        i = _atom_end(pattern, i)
    return sum(sum(frame) for frame in frames)


def _atom_end(pattern: str, i: int) -> int:
    """Where the atom starting at ``i`` (a character, an escape or a class) ends."""
    if pattern[i] == "\\":
        return _escape_end(pattern, i)
    if pattern[i] != "[":
        return i + 1
    i += 1
    if pattern.startswith("^", i):
        i += 1
    if pattern.startswith("]", i):
        i += 1  # a leading ] is a literal
    while i < len(pattern) and pattern[i] != "]":
        if pattern[i] == "\\":
            i = _escape_end(pattern, i)
        elif pattern.startswith("[:", i) and (close := pattern.find(":]", i + 2)) != -1:
            i = close + 2
        else:
            i += 1
    return i + 1


def _escape_end(pattern: str, i: int) -> int:
    """Where the escape starting at ``i`` (``\\d``, ``\\pL``, ``\\p{Greek}``, ``\\x{1F600}``, ``\\Q...\\E``) ends."""
    kind = pattern[i + 1 : i + 2]
    if kind == "Q":
        close = pattern.find("\\E", i + 2)
        return len(pattern) if close == -1 else close + 2
    if kind in ("p", "P", "x") and pattern.startswith("{", i + 2):
        close = pattern.find("}", i + 3)
        return len(pattern) if close == -1 else close + 1
    if kind in ("p", "P"):
        return i + 3
    if kind == "x":
        return i + 4
    return i + 2


def _text(value: Any, budget: Budget | None = None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_text(v, budget) for v in _checked(value, budget))
    return unicodedata.normalize("NFC", str(value)).casefold()


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == [] or value == {}


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        number = Decimal(str(value))
    elif isinstance(value, str) and len(value) <= 100:
        try:
            number = Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            return None
    else:
        return None
    return number if number.is_finite() else None


def _date(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not 8 <= len(value) <= 40:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _checked(items: list[Any], budget: Budget | None) -> Iterable[Any]:
    """``items``, looking at the budget every few of them."""
    for i, item in enumerate(items):
        if budget is not None and i % _LIST_CHECK_EVERY == _LIST_CHECK_EVERY - 1:
            budget.check()
        yield item


def _equal(actual: Any, expected: Any, budget: Budget) -> bool:
    if isinstance(actual, list):
        return any(_equal(item, expected, budget) for item in _checked(actual, budget))
    left, right = _number(actual), _number(expected)
    if left is not None and right is not None:
        return left == right
    return not _empty(actual) and _text(actual) == _text(expected)


def _ordered(op: str, actual: Any, expected: Any) -> bool:
    left: Any
    right: Any
    left, right = _number(actual), _number(expected)
    if left is None or right is None:
        left, right = _date(actual), _date(expected)
        if left is None or right is None:
            return False  # a type mismatch never matches
    return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[op]


def _compare(op: str, actual: Any, expected: Any, budget: Budget) -> bool:
    if op == "is_empty":
        return _empty(actual)
    if op == "is_not_empty":
        return not _empty(actual)
    if op == "not_equals":
        return not _equal(actual, expected, budget)
    if _empty(actual):
        return False
    if op == "equals":
        return _equal(actual, expected, budget)
    if op == "contains":
        return _text(expected) in _text(actual, budget)
    if op == "starts_with":
        return _text(actual, budget).startswith(_text(expected))
    if op == "in":
        for option in expected:
            budget.check()
            if _equal(actual, option, budget):
                return True
        return False
    if op in ORDERED:
        return _ordered(op, actual, expected)
    if op == "matches":
        text = actual if isinstance(actual, str) else _text(actual, budget)
        return _compiled(expected).search(text[:MAX_MATCHED_TEXT]) is not None
    raise ValueError(f"unknown operator {op!r}")
