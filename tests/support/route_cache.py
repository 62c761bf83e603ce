"""Tests build a Flask app per test (about 120 URL rules each). werkzeug compiles two URL-builder functions per
rule with ``ast`` + ``compile`` every time, which was a fifth of an app's start-up in the suite. The builder is a
pure function of the rule's text, its parsed parts, its defaults and the flag, so the same rule gets the same
function: this cache hands it out again. Production builds one app per process and is not patched."""

from __future__ import annotations

from typing import Any

from werkzeug.routing.rules import Rule

_original = Rule._compile_builder
_builders: dict[tuple, Any] = {}


def _key(rule: Rule, append_unknown: bool) -> tuple:
    defaults = tuple(
        sorted(
            (str(k), type(rule._converters.get(k)).__name__, repr(v))
            for k, v in (rule.defaults or {}).items()
        )
    )
    return (rule.rule, tuple(rule._trace), defaults, append_unknown)


def _cached_compile_builder(self: Rule, append_unknown: bool = True) -> Any:
    key = _key(self, append_unknown)
    builder = _builders.get(key)
    if builder is None:
        builder = _builders[key] = _original(self, append_unknown)
    return builder


def install() -> None:
    """Cache werkzeug's URL builders for the rest of this process."""
    Rule._compile_builder = _cached_compile_builder  # type: ignore[method-assign]
