"""What one attempt came to, and the fields of the execution log row it becomes.

Shared by the runner and the plugin test kit, so that ``run_plugin`` shows exactly what the log shows.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from app.contract.base import OUTPUT_LIMIT, ExecutionResult, PluginError
from app.engine.deadline import DeadlineExceeded
from app.engine.isolation import AttemptInfo, PluginCrashed
from app.engine.workers import WorkerLost
from app.json_input import INT64, MAX_DEPTH, strict_loads
from app.models.execution_log import LogStatus

log = logging.getLogger(__name__)

_SURROGATE = re.compile("[\ud800-\udfff]")  # (a lone one: a pair is one character in Python)
# A plugin's text in a log row: each text (summary, error, a request or response value) at most TEXT_LIMIT
# characters, and a summary, request or response at most FIELD_LIMIT characters as JSON. (A third-party
# plugin's 5 MB summary held the shared result writer, every workspace's results behind it, 1.7 s; 17 MB
# is over the store's document limit.) A row is then at most a few hundred Ki characters.
TEXT_LIMIT = 64 * 1024
FIELD_LIMIT = 2 * TEXT_LIMIT


class Outcome:
    """What an attempt came to, before it is written down."""

    def __init__(
        self,
        status: LogStatus,
        error: PluginError | None = None,
        result: ExecutionResult | None = None,
        error_type: str | None = None,
    ):
        self.status, self.error, self.result, self.error_type = status, error, result, error_type
        if error is not None:  # (it becomes the job's last error too)
            error.message = storable(error.message)
        self.value: Any = None  # what the call returned, as it returned it
        self.duration = 0.0
        self.info = AttemptInfo()  # where it ran (thread or process) and its peak memory

    def log_fields(self) -> dict[str, Any]:
        """status, summary, error_type, error_message, request, response, isolation, peak memory and output
        of the log row."""
        result, error = self.result, self.error
        response = dict(result.response if result else (error.response if error else {}))
        request = result.request if result else dict(response.pop("request", {}) or {})
        return {
            "status": self.status.value,
            "summary": within_limits(result.summary if result else None),
            "error_type": storable(self.error_type),
            "error_message": within_limits(error.message if error else None),
            "request": within_limits(request),
            "response": within_limits(response),
            "isolation": self.info.isolation,
            "peak_memory_mb": self.info.peak_memory_mb,
            "output": storable(self.info.output),  # (bounded where it is captured: engine.workers)
            "output_data": storable(result.output if result else {}),  # (at most OUTPUT_LIMIT: output_problem)
        }

    def cut_error(self) -> None:
        """The error's message cut to what is stored (it becomes the job's last error and its run's): once
        it is scrubbed, as a secret cut in two would not be."""
        if self.error is not None and isinstance(self.error.message, str):
            self.error.message = cut(self.error.message)


def cut(text: str, limit: int = TEXT_LIMIT, unit: str = "characters") -> str:
    """``text`` as stored: over ``limit`` characters, its beginning and how long it was, within ``limit``
    (so cutting twice cuts once)."""
    if len(text) <= limit:
        return text
    note = f"… (cut: {len(text):,} {unit})"
    return text[: limit - len(note)] + note


def within_limits(value: Any) -> Any:
    """A plugin's summary, request, response or error as a log row keeps it (``storable``): each text cut at
    TEXT_LIMIT characters; one still over FIELD_LIMIT characters as JSON (many small parts) is kept as an
    excerpt of its JSON, and an object stays an object: ``{"status_code", "cut"}``."""
    kept = storable(value, text_limit=TEXT_LIMIT)
    if not isinstance(kept, dict | list):
        return kept
    text = json.dumps(kept, ensure_ascii=False, default=str)
    if len(text) <= FIELD_LIMIT:
        return kept
    excerpt = cut(text, TEXT_LIMIT, "characters as JSON")
    if isinstance(kept, dict):
        status = kept.get("status_code")
        return {"status_code": status if isinstance(status, int) else None, "cut": excerpt}
    return excerpt


def storable(value: Any, depth: int = 0, text_limit: int = 0) -> Any:
    """``value`` as the store can hold it, whatever a plugin put in it: text with a lone surrogate gets
    U+FFFD in its place, keys become text without NUL, integers beyond 64 bits text, nesting is cut at
    MAX_DEPTH; with ``text_limit``, each text (keys too) ``cut`` to it in the same walk. (One row the store
    refuses would fail its whole batch of results.)"""
    if isinstance(value, str):
        text = value if value.isascii() else _SURROGATE.sub("\ufffd", value)
        return cut(text, text_limit) if text_limit else text
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return value if INT64[0] <= value <= INT64[1] else str(value)
    if depth >= MAX_DEPTH and isinstance(value, dict | list | tuple):
        return "…"
    if isinstance(value, dict):
        return {_key(k, text_limit): storable(v, depth + 1, text_limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v, depth + 1, text_limit) for v in value]
    return value


def _key(key: Any, text_limit: int) -> str:
    text = storable(str(key)).replace("\x00", "\ufffd")
    return cut(text, text_limit) if text_limit else text


def output_problem(output: Any) -> str | None:
    """Why an attempt's structured ``output`` cannot be kept (not an object, not JSON, too large, or JSON a
    request body could not be either: keys that are not text or hold NUL, integers beyond 64 bits, a lone
    surrogate, deeper than MAX_DEPTH), or None."""
    if not isinstance(output, dict):
        return f"The plugin's output is a {type(output).__name__}, not an object."
    try:
        text = json.dumps(output, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        return f"The plugin's output is not JSON: {exc}."
    if len(text.encode()) > OUTPUT_LIMIT:
        return f"The plugin's output is {len(text.encode()):,} bytes as JSON, over the limit of {OUTPUT_LIMIT:,}."
    try:
        strict_loads(text)
    except ValueError as exc:
        return f"The plugin's output cannot be stored: {exc}."
    if not _text_keys(output):  # (json.dumps makes text of them; the store would not)
        return "The plugin's output cannot be stored: its keys must be text."
    return None


def _text_keys(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if not all(isinstance(k, str) for k in item):
                return False
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return True


def outcome_of(call: Callable[[], Any], plugin_id: str) -> Outcome:
    """Run ``call`` (a plugin's method) and classify how it ended (``value`` holds what it returned)."""
    try:
        result = call()
        problem = output_problem(result.output) if isinstance(result, ExecutionResult) else None
        if problem is not None:
            return Outcome(LogStatus.FAILED, PluginError(problem, permanent=True), error_type="permanent")
        outcome = Outcome(
            LogStatus.SUCCESS, result=result if isinstance(result, ExecutionResult) else ExecutionResult()
        )
        outcome.value = result
        return outcome
    except DeadlineExceeded as exc:
        return Outcome(LogStatus.TIMEOUT, PluginError(f"Timed out: the plugin {exc}."), error_type="timeout")
    except WorkerLost as exc:  # its worker process was killed at the deadline, crashed or ran out of memory
        if exc.deadline:
            return Outcome(
                LogStatus.TIMEOUT, PluginError(f"Timed out: the plugin {exc}."), error_type="timeout"
            )
        reason = exc.reason[:1].upper() + exc.reason[1:] + "."
        return Outcome(LogStatus.FAILED, PluginError(reason), error_type="worker_lost")
    except PluginCrashed as exc:
        log.warning("plugin %s raised %s in its worker process", plugin_id, exc.kind)
        return Outcome(LogStatus.FAILED, PluginError(f"{exc.kind} in plugin"), error_type=exc.kind)
    except PluginError as exc:
        return Outcome(LogStatus.FAILED, exc, error_type="permanent" if exc.permanent else "retryable")
    except Exception as exc:  # a bug in a plugin must not kill the worker; retried like a transient error
        log.exception("plugin %s raised", plugin_id)
        return Outcome(
            LogStatus.FAILED, PluginError(f"{type(exc).__name__} in plugin"), error_type=type(exc).__name__
        )


def timed_out(outcome: Outcome, timeout: float) -> Outcome:
    """``outcome`` of a call that ended past its deadline of ``timeout`` s: a timeout if it failed with a
    plain retryable error (a network wait the deadline cut); as it is otherwise (a success, a refusal)."""
    error = outcome.error
    if error is None or error.permanent or error.disable or error.retry_after is not None:
        return outcome
    message = f"Timed out: the plugin did not finish within {timeout:g} s ({error.message.rstrip('.')})."
    return Outcome(LogStatus.TIMEOUT, PluginError(message, response=error.response), error_type="timeout")
