"""The one template engine of every plugin: Jinja2's immutable sandbox.

Variables (see ``template_context``):

- ``data``: the submission's values; each value is also a variable of its own (``{{ email }}``)
- ``form``: ``id``, ``name``, ``fields`` (``name``/``label`` of each)
- ``submission``: ``id``, ``created_at``, ``updated_at``, ``revision`` (empty for form events)
- ``event``: the event name (``form.submitted``, ``response.edited``, ``response.deleted``)
- ``event_title``: the same in words ("New submission", "Submission edited", ...)
- ``fields``: the selected fields (``name``, ``label``, ``value``; see app.field_selection)

A missing value renders empty, also when chained (``{{ data.nope.deeper }}``). Lists render joined by
commas, booleans as yes/no. Three escaping modes: ``text`` (none), ``html`` (autoescape) and ``slack``
(``&``, ``<`` and ``>`` of every value are escaped, so submitted text cannot ping ``<!channel>``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from marshmallow import ValidationError, fields

from app.contract import PluginError
from app.field_selection import SelectedField, display_value

MODES = ("text", "html", "slack")
MAX_SIZE = 100_000  # longest string or list a template may build with * (and largest ** exponent / 100)
RESERVED = ("data", "form", "submission", "event", "event_title", "fields")
EVENT_TITLES = {
    "form.submitted": "New submission",
    "response.edited": "Submission edited",
    "response.deleted": "Submission deleted",
    "form.updated": "Form updated",
}


def slack_escape(value: Any) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, made strict about escapes and about building huge values."""

    intercepted_binops = frozenset({"*", "**"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        raise SecurityError(f"access to {attribute!r} of {type(obj).__name__} is not allowed in templates")

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(times, int)
                    and len(seq) * times > MAX_SIZE
                ):
                    raise SecurityError("the template builds a value that is too large")
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_SIZE // 100:
            raise SecurityError("the template computes a power that is too large")
        return super().call_binop(context, operator, left, right)


def _finalizer(mode: str) -> Callable[[Any], Any]:
    if mode == "slack":
        return lambda value: slack_escape(display_value(value))
    return display_value


@lru_cache(maxsize=len(MODES))
def environment(mode: str = "text") -> jinja2.Environment:
    """The shared sandboxed environment of a mode."""
    if mode not in MODES:
        raise ValueError(f"unknown template mode {mode!r}")
    return _Sandbox(
        autoescape=mode == "html",
        undefined=jinja2.ChainableUndefined,
        finalize=_finalizer(mode),
        keep_trailing_newline=True,
    )


@lru_cache(maxsize=1024)
def _compiled(source: str, mode: str) -> jinja2.Template:
    return environment(mode).from_string(source)


def check_template(source: str, mode: str = "text") -> None:
    """Raise marshmallow.ValidationError when ``source`` does not compile (used by config schemas)."""
    try:
        _compiled(source, mode)
    except jinja2.TemplateSyntaxError as exc:
        raise ValidationError(f"Template syntax error on line {exc.lineno}: {exc.message}") from None


def Template(mode: str = "text", widget: str = "textarea", **kwargs: Any) -> fields.String:  # noqa: N802
    """A config field holding a template; a syntax error fails validation (a 422 on the field)."""
    metadata = {"x-widget": widget, "x-template": mode, **kwargs.pop("metadata", {})}
    return fields.String(validate=lambda source: check_template(source, mode), metadata=metadata, **kwargs)


def template_context(
    payload: Mapping[str, Any], selected: list[SelectedField] | None = None
) -> dict[str, Any]:
    """The variables of a template for an event snapshot."""
    data = dict(payload.get("data") or {})
    form = payload.get("form") or {}
    context: dict[str, Any] = {name: value for name, value in data.items() if name not in RESERVED}
    context.update(
        data=data,
        form={"id": form.get("id"), "name": form.get("name"), "fields": form.get("fields", [])},
        submission=payload.get("submission") or {},
        event=payload.get("event"),
        event_title=EVENT_TITLES.get(payload.get("event") or "", payload.get("event")),
        fields=[f.to_dict() for f in selected or []],
    )
    return context


def render(source: str, context: Mapping[str, Any], mode: str = "text", what: str = "") -> str:
    """Render a template; any failure is a permanent PluginError naming ``what`` was being rendered."""
    name = f"{what} template" if what else "template"
    try:
        return _compiled(source, mode).render(context)
    except SecurityError as exc:
        raise PluginError(f"The {name} was refused: {exc}.", permanent=True) from None
    except jinja2.TemplateSyntaxError as exc:
        raise PluginError(
            f"The {name} has a syntax error on line {exc.lineno}: {exc.message}", permanent=True
        ) from None
    except Exception as exc:  # a template error of any kind (TypeError, ZeroDivisionError, ...) is final
        raise PluginError(
            f"The {name} could not be rendered: {type(exc).__name__}: {exc}", permanent=True
        ) from None
