"""Third-party plugins that misbehave on purpose (process-isolation tests); importable by worker processes."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time

from marshmallow import Schema, fields

from app.contract import ExecutionResult, Plugin, Secret, TestResult


class AnyConfig(Schema):
    note = fields.String(load_default="")
    token = Secret(load_default=None, allow_none=True)
    evidence = fields.String(load_default="")  # a directory the hostile plugin writes all it found into


class _Bad(Plugin):
    config_schema = AnyConfig

    def test_connection(self, config):
        self.execute(None)
        return TestResult(True, "fine")

    def preview(self, ctx):
        self.execute(ctx)


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


class SleepPlugin(_Bad):
    """Sleeps an hour, ignoring its deadline."""

    id, name = "sleep", "Sleep"

    def execute(self, ctx):
        time.sleep(3600)


class OsExitPlugin(_Bad):
    """Ends its process at once with ``os._exit``."""

    id, name = "os_exit", "Os exit"

    def execute(self, ctx):
        os._exit(3)


class SysExitPlugin(_Bad):
    """Raises SystemExit (``sys.exit``)."""

    id, name = "sys_exit", "Sys exit"

    def execute(self, ctx):
        sys.exit(4)


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


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(1_000_000).decode("utf-8", "replace").replace("\0", "\n")
    except OSError:
        return None


def look_around(settings, data_dir: str) -> dict:
    """Everything of the host's a plugin can try to read: its environment, every process's environment
    (its own and its parent's included), the secret files of ``data_dir``, and its settings."""
    procs = {pid: _read(f"/proc/{pid}/environ") for pid in os.listdir("/proc") if pid.isdigit()}
    files = {
        name: _read(os.path.join(data_dir, name)) for name in ("secret_key", "admin_password", "admin_token")
    }
    return {
        "pid": os.getpid(),
        "uid": os.getuid(),
        "environ": dict(os.environ),
        "proc_environ": {pid: text for pid, text in procs.items() if text},
        "parent_environ": _read(f"/proc/{os.getppid()}/environ"),
        "files": {name: text for name, text in files.items() if text},
        "settings": dict(settings),
    }


class HostilePlugin(Plugin):
    """Looks for the host's secrets in each of its four calls (``note`` names the host's DATA_DIR) and returns
    all it found: in its result, its test answer, its preview, and the config it stores (after the note).
    It also writes all it found, whole, to ``<evidence>/<call>.json``: what the host keeps of its answers is
    cut (a log row keeps 64 Ki characters of a text), so the evidence of a test is that file."""

    id, name = "hostile", "Hostile"
    config_schema = AnyConfig
    settings_keys = ("SECRET_KEY", "ENCRYPTION_KEYS", "ADMIN_TOKEN", "MONGODB_URI", "DATA_DIR")

    def _found(self, config, call: str) -> dict:
        found = look_around(self.settings, (config.get("note") or "/nonexistent").split("\n")[0])
        logging.getLogger("hostile").warning("found %s", json.dumps(found))
        print("with token", config.get("token"))
        print(json.dumps(found))
        if config.get("evidence"):
            with open(os.path.join(config["evidence"], f"{call}.json"), "w") as fh:
                json.dump(found, fh)
        return found

    def execute(self, ctx):
        return ExecutionResult(summary="looked", response={"found": self._found(ctx.config, "execute")})

    def test_connection(self, config):
        found = self._found(config, "test_connection")
        return TestResult(True, json.dumps(found), details=found)

    def preview(self, ctx):
        return {"found": self._found(ctx.config, "preview"), "ctx_settings": dict(ctx.settings)}

    def on_save(self, config, previous):
        if config.get("note") == "segfault":
            os.kill(os.getpid(), signal.SIGSEGV)
        return {**config, "note": config.get("note", "") + "\n" + json.dumps(self._found(config, "on_save"))}


class ChattyPlugin(Plugin):
    """Writes 10 MB to stdout and 1 MB to stderr (file descriptor 2, as C code would) in each attempt."""

    id, name = "chatty", "Chatty"
    config_schema = AnyConfig

    def execute(self, ctx):
        for _ in range(10):
            print("x" * (1024 * 1024))
        os.write(2, b"e" * (1024 * 1024))
        return ExecutionResult(summary=f"pid {os.getpid()}")


class _Planted:
    """Unpickled, it runs code: it writes ``path`` in the process that loads it."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (exec, (f"open({self.path!r}, 'w').write('planted')",))


class PicklerPlugin(Plugin):
    """Answers the host itself, down its worker's pipe, with a pickle that runs code where it is loaded
    (``note`` is the file that code writes)."""

    id, name = "pickler", "Pickler"
    config_schema = AnyConfig

    def execute(self, ctx):
        import gc
        from multiprocessing.connection import Connection

        for conn in [o for o in gc.get_objects() if isinstance(o, Connection)]:
            conn.send(_Planted(ctx.config["note"]))
        return ExecutionResult()


BAD = (HogPlugin, SpinPlugin, SegfaultPlugin, SnoopPlugin)
# The six of issue 21's bad-plugins target: memory hog, CPU spin, segfault, deadline-ignoring sleep, exits.
MISBEHAVING = (HogPlugin, SpinPlugin, SegfaultPlugin, SleepPlugin, OsExitPlugin, SysExitPlugin)
HOSTILE = (HostilePlugin, ChattyPlugin, PicklerPlugin)
