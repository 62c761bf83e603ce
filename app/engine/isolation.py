"""Where a plugin call runs: in a thread of this process, or in a worker process (app.engine.workers).

``PLUGIN_ISOLATION``:

- ``thread``: every plugin in threads, except those that declare ``isolation = "process"``;
- ``process``: every plugin in worker processes;
- ``third-party`` (default): plugins installed from packages (entry points) in processes, built-ins in
  threads unless they declare ``isolation = "process"``. A third-party plugin cannot opt out.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask

from app import signals, template_budget
from app.contract import ExecutionContext, ExecutionResult, PluginError, TestResult
from app.contract.registry import PluginRegistry
from app.engine.workers import Call, Reply, WorkerPool, class_ref
from app.services import services

log = logging.getLogger(__name__)

MODES = ("thread", "process", "third-party")


@dataclass
class AttemptInfo:
    """How an attempt ran, for its execution log."""

    isolation: str = "thread"
    peak_memory_mb: float | None = None
    output: str | None = None  # what a worker process's call wrote to stdout/stderr (bounded)


class PluginHost:
    """Runs plugin calls in worker processes for the plugins whose isolation asks for it."""

    def __init__(self, registry: PluginRegistry, settings: Mapping[str, Any]):
        mode = str(settings.get("PLUGIN_ISOLATION", "third-party"))
        if mode not in MODES:
            raise ValueError(f"PLUGIN_ISOLATION must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        self.registry = registry
        self.cpu_seconds = int(settings.get("PLUGIN_CPU_SECONDS", 30))
        isolated = [registry.plugin_class(pid) for pid in registry.ids() if self.in_process(pid)]
        self.pool = WorkerPool(
            int(settings.get("PLUGIN_PROCESSES", 4)),
            int(settings.get("PLUGIN_MEMORY_MB", 256)),
            self.cpu_seconds,
            preload=sorted({cls.__module__ for cls in isolated if cls is not None}),
        )
        self.renders_refused: Counter[str] = Counter()  # by limit, in this process (its workers included)
        self.plugin_user: str | None = None  # as the workers report it (app.engine.sandbox)
        signals.render_refused.connect(self._refused)

    def _refused(self, sender: Any, limit: str, **_: Any) -> None:
        self.renders_refused[limit] += 1

    def status(self) -> dict[str, Any]:
        """For /readyz: the mode, live worker processes, replacements by reason, renders refused by limit."""
        return {
            "mode": self.mode,
            "warming": self.pool.warming,
            "worker_processes": len(self.pool.processes),
            "worker_restarts": dict(self.pool.restarts),
            "plugin_user": self.plugin_user,
            "renders_refused": dict(self.renders_refused),
        }

    def isolation(self, plugin_id: str) -> str:
        """ "process" or "thread": where calls of this plugin run."""
        cls = self.registry.plugin_class(plugin_id)
        if cls is None:
            return "thread"
        declared = getattr(cls, "isolation", None)
        if self.mode == "process" or declared == "process":
            return "process"
        if self.mode == "third-party" and self.registry.is_third_party(plugin_id):
            return "process"
        return "thread"

    def in_process(self, plugin_id: str) -> bool:
        return self.isolation(plugin_id) == "process"

    def _make_call(self, plugin_id: str, method: str | None, args: tuple[Any, ...]) -> Call:
        cls = self.registry.plugin_class(plugin_id)
        assert cls is not None
        return Call(
            plugin=class_ref(cls),
            settings=dict(self.registry.settings_for(plugin_id)),
            method=method,
            args=args,
            budget=template_budget.current_budget(),
            cpu_seconds=self.cpu_seconds,
        )

    def warm(self) -> None:
        """In the background: start the worker processes and load every process-isolated plugin in them
        (the scheduler calls this at start; nothing happens when every plugin runs in threads)."""
        calls = [self._make_call(pid, None, ()) for pid in self.registry.ids() if self.in_process(pid)]
        if calls:
            self.pool.warming = True  # before the thread starts: /readyz must not say ready meanwhile
            threading.Thread(target=self.pool.warm, args=(calls,), name="formhooks-warm", daemon=True).start()

    def call(
        self, plugin_id: str, method: str, args: tuple[Any, ...], timeout: float, info: AttemptInfo
    ) -> Any:
        """``plugin.<method>(*args)`` in a worker process: its value (an ExecutionResult or TestResult for
        those methods, plain data otherwise). Raises PluginError, WorkerLost or PluginCrashed."""
        args = tuple(
            dataclasses.replace(a, settings={}) if isinstance(a, ExecutionContext) else a for a in args
        )
        info.isolation = "process"
        reply = self.pool.call(self._make_call(plugin_id, method, args), timeout)
        for name, level, message in reply.logs:  # re-emitted here, under the caller's secret scrubbing
            logging.getLogger(name).log(level, "%s", message)
        if reply.logs_dropped:
            log.warning("%d more log lines of plugin %s were dropped", reply.logs_dropped, plugin_id)
        for limit in reply.refused:
            signals.render_refused.send(None, limit=limit)
        info.peak_memory_mb = reply.peak_mb
        self.plugin_user = reply.user
        info.output = _output(reply)
        if reply.error is not None:
            raise _error(reply.error)
        result_type = RESULT_TYPES.get(method)
        if result_type is None:
            return reply.value
        try:
            return result_type(**reply.value) if isinstance(reply.value, dict) else result_type()
        except TypeError:
            raise PluginCrashed(f"{result_type.__name__} that is not one") from None

    def shutdown(self, kill: bool = True) -> None:
        """Stop the worker processes (the scheduler's shutdown calls this; so does exit)."""
        self.pool.shutdown(kill=kill)


class PluginCrashed(Exception):
    """A plugin raised something other than PluginError in its worker process; ``kind`` is its type."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


# What execute and test_connection return, rebuilt from the plain data a worker sends back.
RESULT_TYPES: dict[str, type] = {"execute": ExecutionResult, "test_connection": TestResult}


def _output(reply: Reply) -> str | None:
    if not reply.output and not reply.output_dropped:
        return None
    dropped = f"\n[{reply.output_dropped} more bytes of output dropped]" if reply.output_dropped else ""
    return reply.output + dropped


def _error(fields: dict[str, Any]) -> Exception:
    """The exception a worker reported, rebuilt from its plain fields (which plugin code could have forged)."""
    if "type" in fields:
        return PluginCrashed(str(fields["type"])[:200])
    try:
        retry_after = fields.get("retry_after")
        return PluginError(
            str(fields["message"]),
            permanent=bool(fields.get("permanent")),
            retry_after=None if retry_after is None else float(retry_after),
            disable=bool(fields.get("disable")),
            response=dict(fields.get("response") or {}),
        )
    except (KeyError, TypeError, ValueError):
        return PluginCrashed("PluginError that is not one")


def init_app(app: Flask) -> None:
    host = services(app).plugin_host = PluginHost(services(app).plugins, app.config)
    atexit.register(host.shutdown)
