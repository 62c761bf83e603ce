"""The one template engine of every plugin: Jinja2's immutable sandbox.

Variables (see ``template_context``):

- ``data``: the submission's values; each value is also a variable of its own (``{{ email }}``)
- ``form``: ``id``, ``name``, ``fields`` (``name``/``label`` of each)
- ``submission``: ``id``, ``created_at``, ``updated_at``, ``revision`` (empty for form events)
- ``event``: the event name (``form.submitted``, ``response.edited``, ``response.deleted``)
- ``event_title``: the same in words ("New submission", "Submission edited", ...)
- ``fields``: the selected fields (``name``, ``label``, ``value``; see app.field_selection)
- ``steps``: in a workflow, the earlier steps by name, each with its ``output`` (``{{ steps.contact.output.id }}``)

A missing value renders empty, also when chained (``{{ data.nope.deeper }}``). Lists render joined by
commas, booleans as yes/no. Three escaping modes: ``text`` (none), ``html`` (autoescape) and ``slack``
(``&``, ``<`` and ``>`` of every value are escaped, so submitted text cannot ping ``<!channel>``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache, wraps
from itertools import chain
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.runtime import Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer
from marshmallow import ValidationError, fields

from app import signals, template_budget
from app.contract import PluginError
from app.field_selection import SelectedField, display_value
from app.template_budget import BudgetExceeded, spending

MODES = ("text", "html", "slack")
RESERVED = ("data", "form", "submission", "event", "event_title", "fields", "steps")
EVENT_TITLES = {
    "form.submitted": "New submission",
    "response.edited": "Submission edited",
    "response.deleted": "Submission deleted",
    "form.updated": "Form updated",
    "integration.alert": "Alert",
}


def slack_escape(value: Any) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Budgeted(NodeTransformer):
    """Rewrites a parsed template so that loops are counted and ``~`` results are size-checked."""

    def visit_For(self, node: nodes.For) -> nodes.For:  # noqa: N802
        self.generic_visit(node)
        node.iter = nodes.Call(
            nodes.EnvironmentAttribute("budget_iter"), [node.iter], [], None, None, lineno=node.lineno
        )
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Call:  # noqa: N802
        self.generic_visit(node)
        return nodes.Call(nodes.EnvironmentAttribute("checked"), [node], [], None, None, lineno=node.lineno)


class _Namespace(Namespace):
    """``namespace()`` whose assignments are size-checked (doubling a string in a loop stops early)."""

    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, spending().check_value(value))


def _budgeted_concat(chunks: Iterable[str]) -> str:
    """Joins the buffers of ``{% set %}`` blocks and macros, counting before the string is built."""
    parts = list(chunks)
    spending().check_size(sum(len(part) for part in parts))
    return "".join(parts)


def _replace_size(text: Any, old: Any, new: Any) -> int:
    text, old, new = str(text), str(old), str(new)
    return len(text) + (len(text) + 1 if not old else text.count(old)) * max(0, len(new) - len(old))


def _check_call(spent: template_budget.Spending, name: str, owner: Any, args: tuple, kwargs: dict) -> tuple:
    """The checks before a widening call of a string method or filter; returns the args to call with."""
    if name in ("format", "format_map"):
        spent.check_format(str(owner), chain(args, *(a.values() for a in args if isinstance(a, Mapping))))
    elif name == "join" and args:
        return (spent.check_join(args[0], str(owner)), *args[1:])
    elif name == "replace" and len(args) >= 2:
        spent.check_size(_replace_size(owner, args[0], args[1]))
    return args


def _format_args(right: Any) -> Iterable[Any]:
    """The arguments of ``fmt % right``."""
    if isinstance(right, Mapping):
        return right.values()
    return right if isinstance(right, tuple) else (right,)


def _budgeted_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    passes = getattr(func, "jinja_pass_arg", None) is not None

    @wraps(func)
    def checked(*args: Any, **kwargs: Any) -> Any:
        spent = spending()
        spent.check_time()
        lead, (value, *rest) = args[: int(passes)], args[int(passes) :]
        for arg in chain(rest, kwargs.values()):
            spent.check_width(arg)
        if name == "join":
            rest = [kwargs.pop("d", rest[0] if rest else ""), *rest[1:]]
            value = spent.check_join(value, str(rest[0]))
        elif name in ("format", "replace"):
            rest = list(_check_call(spent, name, value, tuple(rest), kwargs))
        return spent.check_value(func(*lead, value, *rest, **kwargs))

    return checked


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, made strict about escapes, and spending within the render's budget (app.template_budget)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    concat = staticmethod(_budgeted_concat)  # type: ignore[assignment]

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.filters = {name: _budgeted_filter(name, f) for name, f in self.filters.items()}
        self.globals["namespace"] = _Namespace

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        return _Budgeted().visit(super()._parse(source, name, filename))

    @staticmethod
    def budget_iter(iterable: Iterable[Any]) -> Iterable[Any]:
        return spending().budget_iter(iterable)

    @staticmethod
    def checked(value: Any) -> Any:
        return spending().check_value(value)

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        raise SecurityError(f"access to {attribute!r} of {type(obj).__name__} is not allowed in templates")

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        spent = spending()
        spent.check_time()
        if not isinstance(__obj, Macro):
            for arg in chain(args, kwargs.values()):
                spent.check_width(arg)
        target = getattr(__obj, "__wrapped__", __obj)
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str):
            args = _check_call(spent, getattr(target, "__name__", ""), owner, args, kwargs)
        return spent.check_value(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        spent = spending()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    spent.check_size(len(seq) * times)
            if isinstance(left, int) and isinstance(right, int):
                spent.check_int(left.bit_length() + right.bit_length())
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            spent.check_int(max(1, left.bit_length() - 1) * right)
        elif (
            operator == "+" and isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple)
        ):
            spent.check_size(len(left) + len(right))
        elif operator == "%" and isinstance(left, str):
            spent.check_format(left, _format_args(right))
        return spent.check_value(super().call_binop(context, operator, left, right))


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


# The submission a template is tried on when its config is saved: every field filled, so that a
# template that can only explode does so here (a 422) and not in the job.
SAMPLE_PAYLOAD: dict[str, Any] = {
    "event": "form.submitted",
    "form": {"id": "sample", "name": "Sample form", "fields": [{"name": "email", "label": "Email"}]},
    "submission": {"id": "sample", "revision": 1, "created_at": "2026-01-01T00:00:00Z"},
    "data": {"email": "someone@example.com", "name": "Sam Ple", "message": "Hello"},
}


def check_template(source: str, mode: str = "text") -> None:
    """Raise marshmallow.ValidationError when ``source`` does not compile, or when rendering it on a sample
    submission goes over the template budget (used by config schemas)."""
    try:
        _compiled(source, mode)
    except jinja2.TemplateSyntaxError as exc:
        raise ValidationError(f"Template syntax error on line {exc.lineno}: {exc.message}") from None
    except RecursionError:  # (jinja compiles recursively: hundreds of filters or brackets in a row)
        raise ValidationError("Template refused: it is nested too deeply to compile.") from None
    try:
        _render_budgeted(source, template_context(SAMPLE_PAYLOAD), mode)
    except BudgetExceeded as exc:
        signals.render_refused.send(None, limit=exc.limit)
        raise ValidationError(f"Template refused: {exc}.") from None
    except Exception:  # noqa: S110 - other failures depend on the data and show in the job's log
        pass


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
        steps=payload.get("steps") or {},
    )
    return context


def render(source: str, context: Mapping[str, Any], mode: str = "text", what: str = "") -> str:
    """Render a template within its budget; any failure is a permanent PluginError naming ``what`` was
    being rendered ("Subject template: output larger than 64 KiB")."""
    name = f"{what} template" if what else "template"
    try:
        return _render_budgeted(source, context, mode)
    except BudgetExceeded as exc:
        signals.render_refused.send(None, limit=exc.limit)
        raise PluginError(f"{name.replace('_', ' ').capitalize()}: {exc}.", permanent=True) from None
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


def _render_budgeted(source: str, context: Mapping[str, Any], mode: str) -> str:
    token = template_budget.start()
    try:
        return template_budget.stream(_compiled(source, mode).generate(context))
    finally:
        template_budget.stop(token)
