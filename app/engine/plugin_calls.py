"""The one door into plugin code. Every call the app makes to a plugin goes through ``PluginCalls``:
``execute`` (a job's attempt), ``test_connection`` (Test connection), ``preview`` (the settings editor) and
``on_save`` (saving a config). Each call gets the same treatment:

1. the plugin sees its settings view only (the destination policy and the keys it declares in
   ``settings_keys``), never the host's configuration;
2. the config's secrets are in clear for the call only (``execute`` decrypts the stored config here; the other
   calls are given the config the API validated);
3. it runs where the plugin's isolation says (``app.engine.isolation``): third-party plugins in a worker
   process, which has nothing of the host's secrets (``app.engine.sandbox``), built-ins in this process;
4. within the deadline ``JOB_TIMEOUT``: a worker process is killed at it; a built-in's ``execute`` runs in
   the calling thread (the job's worker) with every network wait cut to the deadline
   (``app.contract.net.call_deadline``: built-ins do all their I/O through app.contract); other calls in
   this process run on a deadline thread that is abandoned at the deadline (``app.engine.deadline``);
5. how it ended is classified once (``app.engine.outcome.outcome_of``), and the config's secrets are scrubbed
   from what comes back: result, error, output, and the log lines emitted meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from flask import Flask

from app.contract import ExecutionContext, Plugin, PluginError, TestResult
from app.contract.net import call_deadline
from app.contract.plain_errors import explain, where_in_config
from app.contract.registry import PluginRegistry
from app.engine.deadline import DeadlineRunner
from app.engine.host_steps import with_files
from app.engine.isolation import AttemptInfo, PluginHost
from app.engine.outcome import Outcome, outcome_of, timed_out
from app.engine.records import JobRecord
from app.engine.schemas import config_schema_of
from app.models import LogStatus
from app.secret_scrub import hiding, scrub, scrub_attempt, secret_values
from app.secrets_box import SecretBox
from app.services import services

REQUEST_THREADS = 8  # threads for the calls requests make to thread-isolated plugins (gunicorn's per worker)


class PluginCalls:
    """Calls plugins for the engine and the API; holds no per-call state, safe from many threads."""

    def __init__(
        self, registry: PluginRegistry, host: PluginHost, box: SecretBox, settings: Mapping[str, Any]
    ):
        self.registry, self.host, self.box, self.settings = registry, host, box, settings
        # For calls made by requests; the scheduler passes its own (their count decides when it stops claiming).
        self.deadlines = DeadlineRunner(REQUEST_THREADS, int(settings.get("MAX_ABANDONED_THREADS", 16)))

    def execute(
        self, plugin: Plugin, job: JobRecord, stored_config: dict[str, Any], deadlines: DeadlineRunner
    ) -> Outcome:
        """One attempt of ``job`` with its config as stored (secrets sealed): what it came to."""
        try:
            config = self.box.open(config_schema_of(plugin), stored_config)
        except ValueError as exc:  # keys were rotated away without `flask rotate-keys`
            return Outcome(LogStatus.FAILED, PluginError(f"{exc}.", permanent=True), error_type="permanent")
        ctx = self._context(
            plugin,
            config,
            job_id=str(job["_id"]),
            idempotency_key=job["idempotency_key"],
            event=job["event"],
            attempt=job["attempts"],
            max_attempts=job["max_attempts"],
            # a workflow step is sent the files earlier steps of its run made (engine.host_steps)
            payload=with_files(job["payload"], job.get("workspace_id")) if job.get("run_id") else job["payload"],
        )
        return self._call(plugin, "execute", (ctx,), [config], deadlines, inline_until=ctx.deadline)[0]

    def test_connection(self, plugin: Plugin, config: dict[str, Any]) -> dict[str, Any]:
        """The answer of Test connection for ``config`` (secrets in clear): a failure is a readable result."""
        outcome, hidden = self._call(plugin, "test_connection", (config,), [config])
        if outcome.error is not None:
            result = TestResult(False, outcome.error.message)
        elif isinstance(outcome.value, TestResult):
            result = outcome.value
        else:
            result = TestResult(False, "The plugin's test gave no answer.")
        return scrub(in_plain_words(result, config).to_dict(), hidden)

    def preview(
        self, plugin: Plugin, config: dict[str, Any], event: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """``{"preview", "error"}``: what ``execute`` would send for ``payload``, or why it could not be built."""
        ctx = self._context(
            plugin,
            config,
            job_id="preview",
            idempotency_key="msg_preview",
            event=event,
            attempt=1,
            max_attempts=int(self.settings["MAX_ATTEMPTS"]),
            payload=payload,
        )
        outcome, hidden = self._call(plugin, "preview", (ctx,), [config])
        shown, error = outcome.value, outcome.error.message if outcome.error else None
        if error is None and shown is not None and not isinstance(shown, dict):
            shown, error = None, "The plugin's preview is not an object."
        return scrub({"preview": shown if error is None else None, "error": error}, hidden)

    def on_save(
        self, plugin: Plugin, config: dict[str, Any], previous: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The config to store for ``config`` saved over ``previous`` (both opened); PluginError (scrubbed)
        when the plugin refused it or failed."""
        outcome, _ = self._call(plugin, "on_save", (config, previous), [config, previous or {}])
        if outcome.error is not None:
            raise outcome.error
        if not isinstance(outcome.value, dict):
            raise PluginError("The plugin did not return a config to store.")
        return outcome.value

    def _context(self, plugin: Plugin, config: dict[str, Any], **fields: Any) -> ExecutionContext:
        return ExecutionContext(
            config=config,
            deadline=time.monotonic() + self.timeout,
            # (a host step, engine.host_steps, is not in the registry and reads no settings)
            settings=self.registry.settings_for(plugin.id) if self.registry.plugin_class(plugin.id) else {},
            **fields,
        )

    @property
    def timeout(self) -> float:
        return float(self.settings["JOB_TIMEOUT"])

    def _call(
        self,
        plugin: Plugin,
        method: str,
        args: tuple[Any, ...],
        configs: list[dict[str, Any]],
        deadlines: DeadlineRunner | None = None,
        inline_until: float | None = None,
    ) -> tuple[Outcome, list[str]]:
        """``plugin.<method>(*args)`` where its isolation says, within the deadline, scrubbed of the secrets
        of ``configs``; also returns those secrets (as the scrubber takes them). ``inline_until``: the
        call's deadline, when a built-in may run it in this thread (see the module's docstring)."""
        schema = config_schema_of(plugin)
        hidden = sorted(
            {s for config in configs for s in secret_values(schema, config)}, key=len, reverse=True
        )
        info = AttemptInfo()
        run: Callable[[], Any]
        until = inline_until if inline_until is not None and self.registry.is_builtin(plugin.id) else None
        if self.host.in_process(plugin.id):
            until = None
            run = lambda: self.host.call(plugin.id, method, args, self.timeout, info)  # noqa: E731
        elif until is not None:
            run = partial(_until, until, getattr(plugin, method), args)
        else:
            bound = getattr(plugin, method)
            run = lambda: (deadlines or self.deadlines).call(lambda: bound(*args), self.timeout)  # noqa: E731
        with hiding(hidden):
            outcome = outcome_of(run, plugin.id)
        if until is not None and time.monotonic() >= until:  # a network wait cut by the deadline: as a
            outcome = timed_out(outcome, self.timeout)  # deadline thread would have reported it
        outcome.info = info
        scrub_attempt(outcome.error, outcome.result, hidden)
        outcome.cut_error()
        info.output = scrub(info.output, hidden)
        return outcome, hidden


def _until(at: float, method: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    with call_deadline(at):
        return method(*args)


def in_plain_words(result: TestResult, config: Mapping[str, Any]) -> TestResult:
    """A failed test whose message is a low-level network error (``[Errno 111] Connection refused``) said
    in plain words (app.contract.plain_errors), the original kept in ``details["technical"]``."""
    plain = None if result.success else explain(result.message, where_in_config(config))
    if plain is None:
        return result
    details = {**result.details, "problem": plain.kind, "technical": result.message}
    return TestResult(False, plain.message, details)


def init_app(app: Flask) -> None:
    found = services(app)
    found.plugin_calls = PluginCalls(found.plugins, found.plugin_host, found.secrets, app.config)
