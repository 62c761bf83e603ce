"""The public plugin API. A third-party plugin imports only from here (and its tests from
``app.contract.testing``).

from app.contract import Plugin, PluginError, ExecutionContext, ExecutionResult, TestResult, Secret
"""

from typing import TYPE_CHECKING

from app.contract.base import (
    ALERT_EVENT,
    EVENTS,
    FORM_EVENTS,
    ExecutionContext,
    ExecutionResult,
    Plugin,
    PluginError,
    RateLimit,
    TestResult,
)
from app.contract.http import raise_for_response, redact_headers, response_summary, retry_after_seconds, send
from app.contract.icons import BUILTIN_ICONS, CATEGORIES, read_icon
from app.contract.net import (
    check_destination,
    check_url,
    connect_checked,
    guarded_opener,
    guarded_session,
    is_public_address,
    shared_session,
)
from app.contract.schema import MASK, NoCredentialsInUrl, Secret

__all__ = [
    "ALERT_EVENT",
    "BUILTIN_ICONS",
    "CATEGORIES",
    "EVENTS",
    "EVENT_TITLES",
    "FORM_EVENTS",
    "MASK",
    "NoCredentialsInUrl",
    "ExecutionContext",
    "ExecutionResult",
    "Plugin",
    "PluginError",
    "RateLimit",
    "Secret",
    "SelectedField",
    "Template",
    "TestResult",
    "check_destination",
    "check_template",
    "check_url",
    "connect_checked",
    "display_value",
    "guarded_opener",
    "guarded_session",
    "is_public_address",
    "raise_for_response",
    "read_icon",
    "redact_headers",
    "render",
    "response_summary",
    "retry_after_seconds",
    "select_fields",
    "selection_field",
    "send",
    "shared_session",
    "slack_escape",
    "template_context",
]

# The names of __all__ not imported above (app.contract.templates) are loaded on first use: app.templating
# imports PluginError from here, so importing them eagerly would be a cycle. Type checkers read them here.
if TYPE_CHECKING:
    from app.contract.templates import (
        EVENT_TITLES,
        SelectedField,
        Template,
        check_template,
        display_value,
        render,
        select_fields,
        selection_field,
        slack_escape,
        template_context,
    )


def __getattr__(name: str) -> object:
    if name in __all__:
        from app.contract import templates  # noqa: PLC0415

        return getattr(templates, name)
    raise AttributeError(f"module 'app.contract' has no attribute {name!r}")
