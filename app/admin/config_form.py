"""A plugin's config JSON Schema → the widgets of its settings form (rendered by templates/admin/_config.html).

The schema is the one ``GET /api/plugins/<id>`` returns; the browser serialises the widgets back to JSON by
their ``kind`` (see static/admin.js) and the API validates it — the UI has no validation of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from app.contract.schema import MASK
from app.models import as_datetime, utcnow

FIELD_NAMES_LIST = "form-field-names"  # a <datalist> of the form's field names, for mapping columns


@dataclass
class Column:
    """One property of the objects in a list-of-objects (column mapping) field."""

    name: str
    label: str
    required: bool = False


@dataclass
class Widget:
    """One input of the config form."""

    name: str
    label: str
    kind: str
    required: bool = False
    help: str = ""
    value: Any = None  # what to prefill (never a secret)
    input_type: str = "text"  # for text-like widgets: text, email, url
    options: list[str] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    secret_set: bool = False  # a secret is stored (the input stays empty; blank keeps it)
    section: str = "Connection"  # the fieldset it is shown in ("x-section", else inferred from its kind)
    mode: str | None = None  # one of the plugin's alternative ways to connect ("x-mode")
    unit: str | None = None  # shown after a number ("x-unit", or seconds for a timeout)
    generate: str | None = None  # a "Generate" button makes a value of this kind ("x-generate": "whsec")
    template: str | None = None  # a template of this mode ("x-template"): offers the insert-field picker

    @property
    def hex(self) -> str:
        """A colour widget's value as ``#rrggbb``."""
        return color_hex(self.value)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Prefilled rows of a keyvalue or mapping widget, plus one empty row to type into."""
        if self.kind == "keyvalue" and isinstance(self.value, dict):
            return [*({"key": k, "value": v} for k, v in self.value.items()), {}]
        if self.kind == "mapping" and isinstance(self.value, list):
            return [*(r for r in self.value if isinstance(r, dict)), {}]
        return [{}]

    @property
    def cells(self) -> list[dict[str, Any]]:
        """The columns of a keyvalue or mapping widget's rows (for templates/admin/_rows.html)."""
        if self.kind == "keyvalue":
            return [
                {"name": "key", "label": "Key", "kind": "text"},
                {"name": "value", "label": "Value", "kind": "text"},
            ]
        return [
            {
                "name": c.name,
                "label": c.label,
                "kind": "text",
                "list": FIELD_NAMES_LIST if "field" in c.name or "source" in c.name else None,
            }
            for c in self.columns
        ]


ACRONYMS = {
    "url": "URL",
    "id": "ID",
    "api": "API",
    "smtp": "SMTP",
    "http": "HTTP",
    "html": "HTML",
    "json": "JSON",
    "tls": "TLS",
    "ssl": "SSL",
}


SECTION_ORDER = ("Connection", "Security", "Message", "Fields sent", "Advanced")
SECTION_OF_KIND = {"textarea": "Message", "mapping": "Fields sent", "keyvalue": "Advanced"}


@dataclass
class Mode:
    """One of a plugin's alternative ways to connect (e.g. Slack: incoming webhook, or token + channel)."""

    name: str
    widgets: list[Widget]
    chosen: bool = False


@dataclass
class Section:
    """A fieldset of the settings form: plain widgets, then the choice between modes if it has any."""

    title: str
    widgets: list[Widget] = field(default_factory=list)
    modes: list[Mode] = field(default_factory=list)


@dataclass(frozen=True)
class Insertable:
    """One entry of the insert-field picker: what it is called, and the template text it inserts."""

    label: str
    name: str
    text: str
    about: bool = False  # what every event has, listed after the form's fields


IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ABOUT = (
    Insertable("What happened (e.g. New submission)", "event_title", "{{ event_title }}", about=True),
    Insertable("Form name", "form.name", "{{ form.name }}", about=True),
    Insertable("Submission ID", "submission.id", "{{ submission.id }}", about=True),
)


def insertables(form_fields: list[Any]) -> list[Insertable]:
    """The form's fields as template variables (``{{ data.email }}``; ``{{ data["first-name"] }}`` for a
    name that is not an identifier), then what every event has (app.templating's context)."""
    found = []
    for f in form_fields:
        name = str(f.name)
        text = f"{{{{ data.{name} }}}}" if IDENTIFIER.match(name) else f'{{{{ data["{name}"] }}}}'
        found.append(Insertable(str(f.label or name), name, text))
    return [*found, *ABOUT]


def sections(items: list[Widget]) -> list[Section]:
    """The widgets grouped into sections (in a fixed order, unknown titles last), modes as a choice; the
    chosen mode is the first one with a saved value, else the first."""
    found: dict[str, Section] = {}
    for w in items:
        section = found.setdefault(w.section, Section(w.section))
        if w.mode is None:
            section.widgets.append(w)
            continue
        mode = next((m for m in section.modes if m.name == w.mode), None)
        if mode is None:
            mode = Mode(w.mode, [])
            section.modes.append(mode)
        mode.widgets.append(w)
    for section in found.values():
        if section.modes:
            used = [m for m in section.modes if any(w.secret_set or w.value for w in m.widgets)]
            (used or section.modes)[0].chosen = True
    rank = {title: i for i, title in enumerate(SECTION_ORDER)}
    return sorted(found.values(), key=lambda s: rank.get(s.title, len(rank)))


UNIT_SUFFIXES = {
    "_ms": "milliseconds",
    "_seconds": "seconds",
    "_minutes": "minutes",
    "_hours": "hours",
    "_days": "days",
}


def _unit(name: str, prop: dict[str, Any]) -> str | None:
    """The unit of a number: ``x-unit``, else a name ending in ``_seconds``/``_minutes``/..., else seconds
    for a timeout."""
    if prop.get("x-unit"):
        return str(prop["x-unit"])
    suffix = next((s for s in UNIT_SUFFIXES if name.endswith(s)), None)
    if suffix:
        return UNIT_SUFFIXES[suffix]
    return "seconds" if name == "timeout" else None


def _label(name: str, prop: dict[str, Any], unit: str | None) -> str:
    """``secret_grace_hours`` in hours → ``Secret grace (hours)``: the unit is said once, in the label."""
    if prop.get("title"):
        return str(prop["title"]) + (f" ({unit})" if unit else "")
    if unit:
        suffix = next((s for s, u in UNIT_SUFFIXES.items() if u == unit and name.endswith(s)), "")
        return f"{humanize(name.removesuffix(suffix) if suffix else name)} ({unit})"
    return humanize(name)


def color_hex(value: Any) -> str:
    """A colour number (``0x5865F2``) as the ``#rrggbb`` an ``<input type=color>`` takes."""
    return f"#{value:06x}" if isinstance(value, int) and 0 <= value <= 0xFFFFFF else "#000000"


def _status(name: str, prop: dict[str, Any], value: Any) -> Widget | None:
    """A state the plugin keeps itself, shown as a sentence while it holds: ``"x-status"`` is the text
    before the time of a ``date-time`` field (``"The old signing secret still signs deliveries until"``),
    shown while that time is ahead (e.g. a signing-secret rotation in progress)."""
    try:
        until = as_datetime(value) if prop.get("x-status") and isinstance(value, str) else None
    except ValueError:  # not a time: nothing to say
        return None
    if until is None or until <= utcnow():
        return None
    return Widget(
        name=name,
        label=str(prop["x-status"]),
        kind="status",
        value=until,
        section=prop.get("x-section") or "Connection",
    )


def humanize(name: str) -> str:
    """``webhook_url`` → ``Webhook URL``."""
    words = name.replace("_", " ").replace("-", " ").split()
    words = [ACRONYMS.get(w.lower(), w) for w in words]
    if words and words[0] not in ACRONYMS.values():
        words[0] = words[0].capitalize()
    return " ".join(words)


def _is_secret(prop: dict[str, Any]) -> bool:
    return bool(prop.get("x-secret") or prop.get("writeOnly") or prop.get("format") == "password")


def _resolve(schema: dict[str, Any], prop: dict[str, Any]) -> dict[str, Any] | None:
    """Follow a local ``$ref`` (``#/$defs/X``, ``#/definitions/X``, ``#/components/schemas/X``) if present."""
    ref = prop.get("$ref")
    if not ref:
        return prop
    node: Any = schema
    for part in ref.lstrip("#/").split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def _kind(schema: dict[str, Any], prop: dict[str, Any]) -> tuple[str, list[Column]]:
    kind = prop.get("type")
    if isinstance(kind, list):  # ["string", "null"]
        kind = next((k for k in kind if k != "null"), "string")
    widget = prop.get("x-widget")
    if _is_secret(prop):
        return "secret", []
    if "enum" in prop:
        return "select", []
    if kind == "boolean":
        return "checkbox", []
    if kind == "integer" and widget == "color":
        return "color", []
    if kind in ("number", "integer"):
        return kind, []
    if kind == "object":
        values = prop.get("additionalProperties")
        simple = not prop.get("properties") and (values in (None, True) or isinstance(values, dict))
        return ("keyvalue", []) if simple else ("json", [])
    if kind == "array":
        items = _resolve(schema, prop.get("items") or {})
        if items and items.get("type", "object") == "object" and items.get("properties"):
            required = set(items.get("required", []))
            columns = [
                Column(n, p.get("title") or humanize(n), n in required)
                for n, p in items["properties"].items()
            ]
            return "mapping", columns
        if items and items.get("type") in ("string", "number", "integer"):
            return "lines", []
        return "json", []
    if widget == "textarea" or prop.get("format") == "textarea":
        return "textarea", []
    return "text", []


def _help(prop: dict[str, Any], kind: str, secret_set: bool) -> str:
    parts = []
    if kind == "lines":
        parts.append("One per line.")
    if kind == "json":
        parts.append("JSON.")
    if kind == "secret" and secret_set:
        parts.append("A value is saved; leave blank to keep it.")
    if kind == "secret" and prop.get("x-generate") and secret_set:
        parts.append("Generate replaces it when you save; the old one keeps signing during the grace period.")
    description = str(prop.get("description") or "").strip()
    if description and parts and not description.endswith((".", "!", "?", ":")):
        description += "."  # the plugin's text and the form's own hints are separate sentences
    return " ".join([description, *parts]).strip()


def widgets(schema: dict[str, Any], current: dict[str, Any] | None = None) -> list[Widget]:
    """The widgets for ``schema``, prefilled from ``current`` (a masked saved config) or the defaults."""
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    result = []
    for name, raw in props.items():
        prop = _resolve(schema, raw) or {}
        if prop.get("readOnly"):
            note = _status(name, prop, current.get(name) if current else None)
            if note is not None:
                result.append(note)
            continue
        kind, columns = _kind(schema, prop)
        value = current.get(name) if current is not None else prop.get("default")
        secret_set = kind == "secret" and value == MASK
        if kind == "secret":
            value = None  # never prefilled
        fmt = prop.get("format")
        inferred = "Message" if prop.get("x-template") else SECTION_OF_KIND.get(kind, "Connection")
        section = prop.get("x-section") or inferred
        unit = _unit(name, prop) if kind in ("number", "integer") else None
        result.append(
            Widget(
                name=name,
                label=_label(name, prop, unit),
                kind=kind,
                required=name in required,
                help=_help(prop, kind, secret_set),
                value=value,
                input_type={"email": "email", "url": "url", "uri": "url"}.get(fmt or "", "text"),
                options=[str(o) for o in prop.get("enum", []) if o is not None],
                columns=columns,
                minimum=prop.get("minimum"),
                maximum=prop.get("maximum"),
                secret_set=secret_set,
                section=section,
                mode=prop.get("x-mode"),
                unit=unit,
                generate=prop.get("x-generate"),
                template=prop.get("x-template")
                or (_resolve(schema, prop.get("items") or {}) or {}).get("x-template"),
            )
        )
    return result
