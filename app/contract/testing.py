"""The plugin test kit: build events and contexts, run a plugin as the host does, check it conforms.

::

    from app.contract.testing import check_plugin, fake_http, payload, run_plugin  # fake_http: a fixture

    def test_it_posts_the_submission(fake_http):
        attempt = run_plugin(MyPlugin, {"url": fake_http.url}, payload({"email": "ada@example.com"}))
        assert attempt.status == "success" and attempt.leaked == []

Plugins under test are built with ``ALLOW_PRIVATE_DESTINATIONS`` on, so they may reach the loopback fake.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import marshmallow

from app.contract.base import (
    ALERT_EVENT,
    EVENTS,
    FORM_EVENTS,
    ExecutionContext,
    ExecutionResult,
    Plugin,
    PluginError,
    TestResult,
)
from app.contract.fake_http import FakeHTTP, Reply, Request
from app.contract.icons import CATEGORIES
from app.contract.schema import json_schema, secret_fields, validate

__all__ = [
    "ALERT",
    "FORM",
    "TEST_SETTINGS",
    "Attempt",
    "FakeHTTP",
    "Reply",
    "Request",
    "check_plugin",
    "context",
    "fake_http",
    "payload",
    "plugin_instance",
    "run_plugin",
]

TEST_SETTINGS: Mapping[str, Any] = {"ALLOW_PRIVATE_DESTINATIONS": True}
FORM: dict[str, Any] = {
    "id": "65f000000000000000000001",
    "name": "Contact",
    "fields": [
        {"name": "name", "label": "Your name"},
        {"name": "email", "label": "E-mail"},
        {"name": "message", "label": "Message"},
    ],
}
# The data of an ``integration.alert`` event, as app.engine.alert_delivery sends it.
ALERT: dict[str, Any] = {
    "alert": "Integration paused: Acme",
    "message": "Acme failed 11 times in a row; Formhooks paused it and tries again at 12:23.",
    "link": "https://forms.example.com/admin/integrations/65f000000000000000000002",
    "kind": "circuit_open",
}
SECRET_LOOKING = re.compile(r"(password|passwd|secret|token|api_?key|auth)", re.I)
PLUGIN_ID = re.compile(r"^[a-z][a-z0-9_]{1,48}$")
VERSION = re.compile(r"^\d+\.\d+(\.\d+)?([.-]?\w+)?$")


def payload(
    data: Mapping[str, Any] | None = None,
    event: str = "form.submitted",
    submission_id: str = "sub1",
    form: Mapping[str, Any] | None = None,
    revision: int = 1,
) -> dict[str, Any]:
    """An event snapshot shaped exactly like the ones the host passes (``ctx.payload``).

    ``form.updated`` events carry no submission and no data. ``integration.alert`` (ALERT_EVENT) carries no
    submission; its ``data`` is the alert (default ALERT) and its form has no fields.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; one of {', '.join(EVENTS)}")
    when = "2026-05-01T10:00:00.000Z"
    if event == ALERT_EVENT:
        about = dict(form or FORM)
        return {
            "event": event,
            "form": {"id": about["id"], "name": about["name"], "fields": []},
            "submission": None,
            "data": dict(data) if data is not None else dict(ALERT),
            "occurred_at": when,
        }
    submission = None
    if event != "form.updated":
        submission = {"id": submission_id, "revision": revision, "created_at": when, "updated_at": when}
    default = {"name": "Ada", "email": "ada@example.com", "message": "Hi"}
    return {
        "event": event,
        "form": dict(form or FORM),
        "submission": submission,
        "data": (dict(data) if data is not None else default) if submission else {},
        "occurred_at": when,
    }


def plugin_instance(plugin: Plugin | type[Plugin], settings: Mapping[str, Any] | None = None) -> Plugin:
    """An instance of ``plugin`` (a class gets TEST_SETTINGS plus ``settings``)."""
    if isinstance(plugin, Plugin):
        return plugin
    return plugin({**TEST_SETTINGS, **(settings or {})})


def context(
    plugin: Plugin | type[Plugin],
    config: Mapping[str, Any],
    snapshot: Mapping[str, Any] | None = None,
    *,
    job_id: str = "job1",
    attempt: int = 1,
    max_attempts: int = 5,
    timeout: float = 10.0,
) -> ExecutionContext:
    """An ExecutionContext as the runner builds it, ``config`` loaded through the plugin's schema.

    A config the schema refuses raises marshmallow.ValidationError, as the API would answer 422.
    """
    instance = plugin_instance(plugin)
    snapshot = dict(snapshot or payload())
    return ExecutionContext(
        job_id=job_id,
        idempotency_key=f"msg_{job_id}",
        event=snapshot["event"],
        attempt=attempt,
        max_attempts=max_attempts,
        config=instance.on_save(validate(instance.config_schema(), dict(config)), None),  # as saved
        payload=snapshot,
        deadline=time.monotonic() + timeout,
        settings=instance.settings,
    )


@dataclass
class Attempt:
    """One attempt as the execution log shows it, plus what a test wants to look at."""

    status: str  # success | failed | timeout
    summary: str | None
    error_type: str | None  # permanent | retryable | timeout | the exception's class name
    error_message: str | None
    request: dict[str, Any]
    response: dict[str, Any]
    isolation: str = "thread"  # run_plugin runs in the test's process; the host may use a worker process
    peak_memory_mb: float | None = None  # measured in a worker process only
    output: str | None = None  # stdout/stderr, captured in a worker process only
    output_data: dict[str, Any] = field(default_factory=dict)  # ExecutionResult.output: for later steps
    error: PluginError | None = None
    result: ExecutionResult | None = None
    leaked: list[str] = field(default_factory=list)  # secret fields found in the record before scrubbing
    logs: list[str] = field(default_factory=list)  # Python log lines of the attempt, as the host writes them

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @property
    def retry_after(self) -> float | None:
        return self.error.retry_after if self.error else None


def run_plugin(
    plugin: Plugin | type[Plugin],
    config: Mapping[str, Any],
    snapshot: Mapping[str, Any] | None = None,
    **ctx_args: Any,
) -> Attempt:
    """Run one attempt as the host does and return what its execution log row would show.

    Never raises for a failed attempt: look at ``status``, ``error_type`` and ``error_message``. An attempt
    that overruns its deadline (``timeout``, default 10 s) is abandoned and shows as a timeout.
    Secrets are scrubbed as the host scrubs them; ``leaked`` names the secret fields that needed it in
    the record (a plugin should not put them there); ``logs`` holds the attempt's Python log lines.
    """
    from app.engine.deadline import DeadlineRunner  # noqa: PLC0415 - the kit runs attempts as the engine does
    from app.engine.outcome import outcome_of  # noqa: PLC0415
    from app.secret_scrub import hiding, scrub, scrub_attempt, secret_values  # noqa: PLC0415

    instance = plugin_instance(plugin)
    ctx = context(instance, config, snapshot, **ctx_args)
    schema = instance.config_schema()
    secrets = secret_values(schema, ctx.config)
    timeout = float(ctx_args.get("timeout", 10.0))
    deadlines = DeadlineRunner(workers=1, max_abandoned=1)  # an overrun is a timeout, as in the host
    try:
        with _captured_logs() as lines, hiding(secrets):
            outcome = outcome_of(
                partial(deadlines.call, partial(instance.execute, ctx), timeout), instance.id
            )
    finally:
        deadlines.shutdown()
    raw = outcome.log_fields()
    leaked = [
        name
        for name in secret_fields(schema)
        if (values := secret_values(schema, {name: ctx.config.get(name)})) and scrub(raw, values) != raw
    ]
    scrub_attempt(outcome.error, outcome.result, secrets)
    return Attempt(
        **outcome.log_fields(), error=outcome.error, result=outcome.result, leaked=leaked, logs=lines
    )


@contextmanager
def _captured_logs() -> Iterator[list[str]]:
    """Every Python log line of the attempt (DEBUG and up), scrubbed as the host's log handlers scrub."""
    from app.secret_scrub import ScrubFilter  # noqa: PLC0415

    lines: list[str] = []
    handler = _ListHandler(lines)
    handler.addFilter(ScrubFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


class _ListHandler(logging.Handler):
    def __init__(self, lines: list[str]):
        super().__init__(logging.DEBUG)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")


def check_plugin(
    plugin_cls: type[Plugin],
    config: Mapping[str, Any] | None = None,
    fake: FakeHTTP | None = None,
    settings: Mapping[str, Any] | None = None,
    reads: Iterable[str] = (),
) -> TestResult | None:
    """Assert that ``plugin_cls`` keeps the contract; raises AssertionError listing every problem.

    Checks the metadata, that the config schema converts to JSON Schema, that every config field has a
    description, that fields named like secrets are ``Secret()`` and that every secret is bound to the fields
    that say where it goes (or declared ``standalone``). With a ``config`` it also runs
    ``test_connection``: it must succeed, and send nothing but reads to ``fake``: GET/HEAD/OPTIONS, and the
    requests listed in ``reads`` as "METHOD /path" (for APIs that read over POST, such as Slack's).
    Returns that TestResult.
    """
    problems = _metadata_problems(plugin_cls) + _schema_problems(plugin_cls)
    result = None
    if config is not None and not problems:
        instance = plugin_cls({**TEST_SETTINGS, **(settings or {})})
        before = len(fake.requests) if fake else 0
        result = instance.test_connection(
            instance.on_save(validate(instance.config_schema(), dict(config)), None)
        )
        if not isinstance(result, TestResult):
            problems.append(f"test_connection returned {type(result).__name__}, not a TestResult")
        elif not result.success:
            problems.append(f"test_connection failed: {result.message}")
        sent = [f"{r.method} {r.path}" for r in (fake.requests[before:] if fake else []) if r.writes]
        writes = [request for request in sent if request not in set(reads)]
        if writes:
            problems.append(f"test_connection changed something at the destination: {', '.join(writes)}")
    if problems:
        raise AssertionError(f"{plugin_cls.__name__} breaks the plugin contract:\n- " + "\n- ".join(problems))
    return result


def _metadata_problems(cls: type[Plugin]) -> list[str]:
    problems = []
    if not PLUGIN_ID.match(str(getattr(cls, "id", ""))):
        problems.append("id must be lower-case letters, digits and _ (2-49 characters)")
    for attr in ("name", "description", "icon"):
        if not getattr(cls, attr, None):
            problems.append(f"{attr} is empty")
    if not VERSION.match(str(cls.version)):
        problems.append(f"version {cls.version!r} is not like 1.2.3")
    if cls.category not in CATEGORIES:
        problems.append(f"category {cls.category!r} is not one of {', '.join(CATEGORIES)}")
    if not cls.triggers or set(cls.triggers) - set(FORM_EVENTS):
        problems.append(f"triggers must be a non-empty subset of {', '.join(FORM_EVENTS)}")
    if cls.execute is Plugin.execute or cls.test_connection is Plugin.test_connection:
        problems.append("execute and test_connection must both be implemented")
    return problems


def _schema_problems(cls: type[Plugin]) -> list[str]:
    schema_cls = getattr(cls, "config_schema", None)
    if not (isinstance(schema_cls, type) and issubclass(schema_cls, marshmallow.Schema)):
        return ["config_schema must be a marshmallow Schema class"]
    problems = []
    try:
        json_schema(schema_cls)
    except Exception as exc:  # any converter failure is the finding
        problems.append(f"config_schema does not convert to JSON Schema: {exc}")
    schema = schema_cls()
    secrets = set(secret_fields(schema))
    for name, f in schema.fields.items():
        if not f.metadata.get("description"):
            problems.append(f"config field {name!r} has no metadata description")
        if (
            SECRET_LOOKING.search(name)
            and name not in secrets
            and not isinstance(f, marshmallow.fields.Boolean | marshmallow.fields.Number)
            and not f.metadata.get("x-not-secret")
        ):
            problems.append(f"config field {name!r} looks like a secret: declare it with Secret()")
    return problems + _binding_problems(schema)


def _binding_problems(schema: marshmallow.Schema) -> list[str]:
    """Every secret says what decides where it goes: ``bound_to`` fields that exist, or ``standalone=True``.
    A standalone secret in a config with a URL field of its own is flagged too: that URL is a destination."""
    problems = []
    urls = [
        name
        for name, f in schema.fields.items()
        if isinstance(f, marshmallow.fields.Url) and not f.metadata.get("x-secret")
    ]
    for name in secret_fields(schema):
        meta = schema.fields[name].metadata
        bound = list(meta.get("x-bound-to") or ())
        if unknown := [f for f in bound if f not in schema.fields]:
            problems.append(
                f"secret {name!r} is bound to {', '.join(unknown)}, which the config does not have"
            )
        elif not bound and not meta.get("x-standalone"):
            problems.append(
                f"secret {name!r} is bound to no field: give Secret(bound_to=(...)) the fields that say where it "
                "is sent (its URL, host, account), or standalone=True if it is its own destination"
            )
        elif meta.get("x-standalone") and urls:
            problems.append(
                f"secret {name!r} is standalone, yet the config has a URL of its own ({', '.join(urls)}): "
                "bind the secret to it"
            )
    return problems


try:  # the fixture, when pytest is there (plugin test suites)
    import pytest
except ImportError:  # pragma: no cover - the kit is also importable without pytest
    pass
else:

    @pytest.fixture
    def fake_http() -> Iterator[FakeHTTP]:
        """A loopback HTTP fake: ``script(Reply(...))`` answers, ``requests`` holds what came in."""
        fake = FakeHTTP()
        yield fake
        fake.close()
