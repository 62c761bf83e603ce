"""Config schemas: secret fields, JSON Schema for UIs, masking and encryption-aware merging."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import marshmallow
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import fields

MASK = "********"


def Secret(  # noqa: N802 - reads like a field class
    bound_to: tuple[str, ...] = (), *, standalone: bool = False, **kwargs: Any
) -> fields.String:
    """A string field holding a secret: encrypted at rest, never returned, kept when omitted on update.

    ``bound_to`` names the fields that say where the secret is sent or used (e.g. ``("url",)``): an update
    that changes any of them must give the secret again, so a saved secret never follows a new destination.
    ``standalone=True`` says instead that no other field decides that: the secret is its own destination (a
    webhook URL), or it only ever goes to one fixed API host that picks the account from the secret itself.
    Every secret declares one or the other (the kit's ``check_plugin`` insists).
    """
    if bound_to and standalone:
        raise ValueError("A Secret is either bound_to fields or standalone, not both.")
    metadata = {"x-secret": True, **kwargs.pop("metadata", {})}
    if bound_to:
        metadata["x-bound-to"] = list(bound_to)
    if standalone:
        metadata["x-standalone"] = True
    return fields.String(metadata=metadata, **kwargs)


def secret_fields(schema: marshmallow.Schema) -> list[str]:
    return [name for name, f in schema.fields.items() if f.metadata.get("x-secret")]


def own_fields(schema: marshmallow.Schema) -> list[str]:
    """Fields the plugin sets itself (``readOnly``, e.g. a rotation's state): never taken from input."""
    return [name for name, f in schema.fields.items() if f.metadata.get("readOnly")]


def secret_bindings(schema: marshmallow.Schema) -> dict[str, list[str]]:
    """Secret field → the fields it is bound to (only secrets that declare a binding)."""
    return {
        name: list(f.metadata["x-bound-to"])
        for name, f in schema.fields.items()
        if f.metadata.get("x-secret") and f.metadata.get("x-bound-to")
    }


class NoCredentialsInUrl(marshmallow.validate.Validator):
    """Refuses a URL with a user name or password in it (``https://user:pw@host/``): a URL is stored as
    typed and shown to every member. ``hint`` says where credentials go instead."""

    def __init__(self, hint: str = "Put credentials in the integration's secret fields (stored encrypted)."):
        self.hint = hint

    def __call__(self, value: str | None) -> str | None:
        if isinstance(value, str) and "@" in urlsplit(value.strip()).netloc:
            raise marshmallow.ValidationError(f"Remove the user name and password from the URL. {self.hint}")
        return value


def json_schema(schema_cls: type[marshmallow.Schema]) -> dict[str, Any]:
    """The config schema as JSON Schema (via apispec's marshmallow converter)."""
    # No schema names: nested schemas are inlined, so the result stands alone (no dangling $ref).
    plugin = MarshmallowPlugin(schema_name_resolver=lambda _schema: None)  # type: ignore[arg-type,return-value]
    APISpec("plugin", "1", "3.0.3", plugins=[plugin])
    converter = plugin.converter
    assert converter is not None  # set by APISpec
    result = converter.schema2jsonschema(schema_cls)
    for name in secret_fields(schema_cls()):
        prop = result["properties"].get(name, {})
        if not prop.get("readOnly"):  # a secret Formhooks sets itself is neither written nor shown
            prop["writeOnly"] = True
        prop.setdefault("format", "password")
    return result


def mask(schema: marshmallow.Schema, stored: dict[str, Any]) -> dict[str, Any]:
    """Stored config → API shape: secrets that are set become MASK, unset ones None."""
    shown = dict(stored)
    for name in secret_fields(schema):
        shown[name] = MASK if stored.get(name) else None
    return shown


def validate(schema: marshmallow.Schema, raw: Any, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load ``raw`` through ``schema``; a secret omitted or sent back as MASK keeps ``previous``'s value,
    unless a field it is bound to changed (then the secret must be given again). Fields the plugin sets
    itself (``readOnly``) are dropped from ``raw`` and not kept: the plugin's ``on_save`` derives them.

    Raises marshmallow.ValidationError with per-field messages.
    """
    if not isinstance(raw, dict):
        raise marshmallow.ValidationError({"config": ["Must be an object."]})
    own = own_fields(schema)
    raw = {k: v for k, v in raw.items() if k not in own}  # sent back from a GET, or forged: ignored alike
    kept: dict[str, Any] = {}
    for name in secret_fields(schema):
        if name in own:
            continue
        if name not in raw or raw[name] == MASK:
            raw.pop(name, None)
            if previous and previous.get(name):
                kept[name] = previous[name]
    loaded = schema.load(raw, partial=tuple(kept))
    refuse_moved_secrets(schema, kept, loaded, previous or {})
    loaded.update(kept)
    return {k: v for k, v in loaded.items() if v is not None}


def refuse_moved_secrets(
    schema: marshmallow.Schema, kept: dict[str, Any], loaded: dict[str, Any], previous: dict[str, Any]
) -> None:
    errors: dict[str, list[str]] = {}
    for name, bound in secret_bindings(schema).items():
        changed = [f for f in bound if name in kept and loaded.get(f) != previous.get(f)]
        if changed:
            errors[name] = [
                f"Enter {name} again: {' and '.join(changed)} changed, and a saved secret is never sent "
                "to, or used on, a new destination."
            ]
    if errors:
        raise marshmallow.ValidationError(errors)
