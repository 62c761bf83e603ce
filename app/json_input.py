"""Strict JSON request bodies: what the store or Python cannot hold is refused as malformed (400).

Refused: nesting deeper than ``MAX_DEPTH``, integers beyond 64 bits, ``NaN``/``Infinity``, strings or
keys with a lone UTF-16 surrogate (``"\\ud800"``), which cannot be encoded as UTF-8, and keys holding a NUL
character, which no BSON document can hold.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask.json.provider import DefaultJSONProvider

MAX_DEPTH = 64
INT64 = (-(2**63), 2**63 - 1)


class InputError(ValueError):
    """A JSON body that parses but cannot be accepted; the message says why."""


def _int(text: str) -> int:
    value = int(text)
    if not INT64[0] <= value <= INT64[1]:
        raise InputError(
            f"the number {text[:30]}… does not fit in 64 bits"
            if len(text) > 30
            else f"the number {text} does not fit in 64 bits"
        )
    return value


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise InputError(f"the number {text[:30]} is too large")
    return value


def _constant(name: str) -> Any:
    raise InputError(f"{name} is not a JSON number")


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(
            "a string holds a lone surrogate (\\ud800–\\udfff) that is not valid Unicode"
        ) from None


def _check(value: Any) -> None:
    """Depth and text of a parsed value, walked without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InputError(f"it is nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key)
                if "\x00" in key:
                    raise InputError("a key holds a NUL character (\\u0000), which cannot be stored")
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def strict_loads(text: str | bytes) -> Any:
    """Parse JSON; ValueError (InputError) for what ``json`` accepts but we do not."""
    if isinstance(text, bytes | bytearray):
        text = text.decode("utf-8")
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise InputError(f"it is nested deeper than {MAX_DEPTH} levels") from None
    _check(value)
    return value


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON with strict parsing of request bodies (answers are written as before)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return strict_loads(s)
