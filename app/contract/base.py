"""The plugin contract: what a plugin declares and the two calls the host makes."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import marshmallow

# What a form owner subscribes an integration to (``Plugin.triggers`` is a subset).
FORM_EVENTS = ("form.submitted", "form.updated", "response.edited", "response.deleted")
# Sent to the integration a workspace chose as its alert channel, whatever its triggers; ``data`` holds the
# alert: ``{"alert", "message", "link", "kind"}``, and there is no submission.
ALERT_EVENT = "integration.alert"
# Every event a plugin may be sent.
EVENTS = (*FORM_EVENTS, ALERT_EVENT)


class PluginError(Exception):
    """The one error a plugin raises.

    ``permanent`` says whether retrying can help; ``retry_after`` (seconds) asks for a later retry;
    ``disable`` asks the host to disable the config (e.g. a webhook answering 410 Gone).
    ``response`` is what came back, for the execution log.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        disable: bool = False,
        response: Mapping[str, Any] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.permanent = permanent or disable
        self.retry_after = retry_after
        self.disable = disable
        self.response = dict(response or {})


def settings_view(cls: type[Plugin], settings: Mapping[str, Any]) -> Mapping[str, Any]:
    """The read-only settings a plugin class is given: the destination policy and its own keys, never one of
    the host's secrets (HOST_SECRETS), whatever it declares."""
    keys = (*DESTINATION_POLICY, *cls.settings_keys)
    return MappingProxyType(
        {key: settings[key] for key in keys if key in settings and key not in HOST_SECRETS}
    )


@dataclass(frozen=True)
class RateLimit:
    """At most ``calls`` per ``period`` seconds per destination (the key a plugin derives from its config)."""

    calls: int
    period: float


@dataclass
class ExecutionContext:
    """Everything one attempt needs. ``config`` has secrets decrypted; ``payload`` is the event snapshot."""

    job_id: str
    idempotency_key: str
    event: str
    attempt: int
    max_attempts: int
    config: dict[str, Any]
    payload: dict[str, Any]
    deadline: float  # time.monotonic() value
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def time_left(self) -> float:
        """Seconds until the deadline (never below a small floor, for use as a network timeout)."""
        return max(0.1, self.deadline - time.monotonic())


# The most a step's structured output may take as JSON (over it the attempt fails, saying so).
OUTPUT_LIMIT = 64 * 1024


@dataclass
class ExecutionResult:
    """What a successful attempt reports for the execution log. ``output`` is structured data for later
    steps of a workflow (``{{ steps.<name>.output.id }}``): what the attempt created (ids, URLs), JSON
    types only, at most OUTPUT_LIMIT bytes as JSON."""

    summary: str = "ok"
    request: dict[str, Any] = field(default_factory=dict)
    response: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)


@dataclass
class TestResult:
    """The answer of a "Test connection"."""

    __test__ = False  # not a pytest class

    success: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"success": self.success, "message": self.message, "details": self.details}


# Settings every plugin sees: the destination policy. A plugin names any others it reads in ``settings_keys``.
DESTINATION_POLICY = ("ALLOW_PRIVATE_DESTINATIONS",)
# Settings no plugin is given, even when it names them in ``settings_keys``.
HOST_SECRETS = (
    "SECRET_KEY",
    "ENCRYPTION_KEYS",
    "ADMIN_TOKEN",
    "ADMIN_PASSWORD",
    "METRICS_TOKEN",
    "MONGODB_URI",
    "SMTP_URL",
    "RATELIMIT_STORAGE_URI",
    "DATA_DIR",
)


class Plugin:
    """Subclass this, set the class attributes, implement ``execute`` and ``test_connection``.

    ``category`` is one of app.contract.CATEGORIES; ``icon`` a built-in icon name (BUILTIN_ICONS) or the
    name of the SVG given in ``icon_svg``.
    ``settings`` is a read-only view of the host's configuration narrowed to the destination policy
    (``ALLOW_PRIVATE_DESTINATIONS``) and the keys the plugin declares in ``settings_keys`` (e.g. an API URL
    override); never the rest (``SECRET_KEY``, ``ENCRYPTION_KEYS``, ...).
    ``isolation`` asks for where the plugin runs: "process" (a worker process with memory and CPU limits),
    "thread", or None to follow ``PLUGIN_ISOLATION``.
    """

    id: ClassVar[str]
    name: ClassVar[str]
    version: ClassVar[str] = "1.0.0"
    description: ClassVar[str] = ""
    category: ClassVar[str] = "other"
    icon: ClassVar[str] = "plug"
    icon_svg: ClassVar[str | None] = None  # an SVG of its own for ``icon`` (see app.contract.icons)
    triggers: ClassVar[tuple[str, ...]] = FORM_EVENTS
    config_schema: ClassVar[type[marshmallow.Schema]]
    rate_limit: ClassVar[RateLimit | None] = None
    settings_keys: ClassVar[tuple[str, ...]] = ()
    isolation: ClassVar[str | None] = None

    def __init__(self, settings: Mapping[str, Any] | None = None):
        self.settings: Mapping[str, Any] = settings or {}

    def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        """Deliver ``ctx.payload``; return an ExecutionResult or raise PluginError."""
        raise NotImplementedError

    def test_connection(self, config: dict[str, Any]) -> TestResult:
        """Prove the config works, without side effects where the destination allows it."""
        raise NotImplementedError

    def on_save(self, config: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
        """The config to store when a user saves ``config`` (validated, secrets in clear) over ``previous``
        (None for a new integration). Default: ``config`` as it is. The webhook uses it to keep a replaced
        signing secret for a grace period. Fields marked ``readOnly`` are never taken from input and are
        not carried over from ``previous`` for you: set them here. A Test connection of unsaved changes
        goes through it too (nothing is stored then), so it must not have side effects."""
        return config

    def rate_limit_key(self, config: dict[str, Any]) -> str | None:
        """The destination the rate limit applies to (e.g. a channel); None for no limit."""
        return None

    def preview(self, ctx: ExecutionContext) -> dict[str, Any] | None:
        """What ``execute`` would send for ``ctx``, built by the same code but not sent (the settings
        editor shows it); None when the plugin cannot tell. May raise PluginError (e.g. a template that
        fails to render)."""
        return None
