"""A plugin's config schema is built once and shared by every attempt; each plugin object has its own."""

from __future__ import annotations

import marshmallow

from app.contract import Plugin
from app.engine.schemas import config_schema_of


class Counting(Plugin):
    id = "counting"
    name = "Counting"

    def __init__(self):
        self.built = 0

    def config_schema(self) -> marshmallow.Schema:
        self.built += 1
        return marshmallow.Schema.from_dict({"url": marshmallow.fields.String()})()

    def execute(self, ctx):  # pragma: no cover - never run here
        raise NotImplementedError


def test_each_plugin_builds_its_schema_once():
    first, second = Counting(), Counting()
    schemas = [config_schema_of(first) for _ in range(3)] + [config_schema_of(second)]

    assert (first.built, second.built) == (1, 1)
    assert schemas[0] is schemas[2] and schemas[0] is not schemas[3]
