"""What one attempt came to, and the fields of the execution log row it becomes.

Shared by the runner and the plugin test kit, so that ``run_plugin`` shows exactly what the log shows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from app.contract.base import OUTPUT_LIMIT, ExecutionResult, PluginError
from app.engine.deadline import DeadlineExceeded
from app.engine.isolation import AttemptInfo, PluginCrashed
from app.engine.workers import WorkerLost
from app.models.execution_log import LogStatus

log = logging.getLogger(__name__)


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
            "summary": result.summary if result else None,
            "error_type": self.error_type,
            "error_message": error.message if error else None,
            "request": request,
            "response": response,
            "isolation": self.info.isolation,
            "peak_memory_mb": self.info.peak_memory_mb,
            "output": self.info.output,
            "output_data": result.output if result else {},
        }


def output_problem(output: Any) -> str | None:
    """Why an attempt's structured ``output`` cannot be kept (not an object, not JSON, too large), or None."""
    if not isinstance(output, dict):
        return f"The plugin's output is a {type(output).__name__}, not an object."
    try:
        size = len(json.dumps(output, allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        return f"The plugin's output is not JSON: {exc}."
    if size > OUTPUT_LIMIT:
        return f"The plugin's output is {size:,} bytes as JSON, over the limit of {OUTPUT_LIMIT:,}."
    return None


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
