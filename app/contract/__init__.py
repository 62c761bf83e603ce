"""The public plugin API. A third-party plugin imports only from here.

from app.contract import Plugin, PluginError, ExecutionContext, ExecutionResult, TestResult, Secret
"""

from app.contract.base import (
    EVENTS,
    ExecutionContext,
    ExecutionResult,
    Plugin,
    PluginError,
    RateLimit,
    TestResult,
)
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
    "EVENTS",
    "MASK",
    "NoCredentialsInUrl",
    "ExecutionContext",
    "ExecutionResult",
    "Plugin",
    "PluginError",
    "RateLimit",
    "Secret",
    "TestResult",
    "check_destination",
    "check_url",
    "connect_checked",
    "guarded_opener",
    "guarded_session",
    "is_public_address",
    "shared_session",
]
