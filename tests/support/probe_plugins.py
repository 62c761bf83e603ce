"""A plugin that reports on the worker process it runs in (worker pool tests); importable by workers."""

from __future__ import annotations

import sys

from marshmallow import Schema

from app.contract import Plugin


class ModulesPlugin(Plugin):
    """Returns the top-level names of the modules its process has imported."""

    id, name = "modules", "Modules"
    config_schema = Schema

    def execute(self, ctx):
        return sorted({name.partition(".")[0] for name in sys.modules})

    def test_connection(self, config):
        return self.execute(None)
