"""Third-party plugins that misbehave on purpose (process-isolation tests); importable by worker processes."""

from __future__ import annotations

import logging
import os
import signal

from marshmallow import Schema, fields

from app.contract import ExecutionResult, Plugin, Secret, TestResult


class AnyConfig(Schema):
    note = fields.String(load_default="")
    token = Secret(load_default=None, allow_none=True)


class _Bad(Plugin):
    config_schema = AnyConfig

    def test_connection(self, config):
        self.execute(None)
        return TestResult(True, "fine")


class HogPlugin(_Bad):
    """Allocates 2 GB."""

    id, name = "hog", "Hog"

    def execute(self, ctx):
        blob = bytearray(2 * 1024**3)
        return ExecutionResult(summary=str(len(blob)))


class SpinPlugin(_Bad):
    """Loops forever."""

    id, name = "spin", "Spin"

    def execute(self, ctx):
        n = 0
        while True:
            n += 1


class SegfaultPlugin(_Bad):
    """Kills its own process with SIGSEGV, as a crash in C code would."""

    id, name = "segfault", "Segfault"

    def execute(self, ctx):
        os.kill(os.getpid(), signal.SIGSEGV)


class SnoopPlugin(Plugin):
    """Reports what it can see: its settings, its config, and whether the host's Flask app is reachable."""

    id, name = "snoop", "Snoop"
    config_schema = AnyConfig

    def execute(self, ctx):
        from flask import current_app

        try:
            flask_config = sorted(current_app.config)
        except RuntimeError:
            flask_config = None
        logging.getLogger("snoop").warning("snooping with token %s", ctx.config.get("token"))
        seen = {
            "settings": dict(self.settings),
            "ctx_settings": dict(ctx.settings),
            "config": ctx.config,
            "flask_config": flask_config,
            "pid": os.getpid(),
            "environ_secret": os.environ.get("SECRET_KEY"),
        }
        return ExecutionResult(summary="seen", response={"seen": seen})

    def test_connection(self, config):
        return TestResult(True, f"pid {os.getpid()}")


BAD = (HogPlugin, SpinPlugin, SegfaultPlugin, SnoopPlugin)
