"""Docs that stay true: what the code offers is documented, and the documented example works as printed."""

from __future__ import annotations

import inspect
import re
import sys
import types
from pathlib import Path

import pytest
from blinker import NamedSignal

import app.contract
import app.contract.testing
from app import signals
from app.config import SETTINGS
from app.contract import EVENT_TITLES, EVENTS, Plugin, Secret, render, select_fields, template_context
from app.contract.registry import BUILTINS, _load_ref
from app.contract.testing import FakeHTTP, payload
from app.scaffold import render_file

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
GUIDE = (ROOT / "docs" / "plugins.md").read_text()


def _mentioned(name: str, text: str) -> bool:
    return re.search(rf"`{re.escape(name)}(?![\w.])", text) is not None


@pytest.mark.parametrize("module", [app.contract, app.contract.testing], ids=lambda m: m.__name__)
def test_every_name_the_contract_exports_is_in_the_plugin_guide(module):
    assert [name for name in module.__all__ if not _mentioned(name, GUIDE)] == []


def _signature(name: str, function) -> str:
    """``name(self, ctx: ExecutionContext) -> ExecutionResult``, annotations as written in the code."""
    sig = inspect.signature(function)
    params, starred = [], False
    for p in sig.parameters.values():
        if p.kind is p.KEYWORD_ONLY and not starred:
            params.append("*")
            starred = True
        text = ("**" if p.kind is p.VAR_KEYWORD else "") + p.name
        if p.annotation is not p.empty and p.kind is not p.VAR_KEYWORD and function is not Secret:
            text += f": {p.annotation}"
        if p.default is not p.empty:
            text += f"={p.default!r}" if function is Secret else f" = {p.default!r}"
        params.append(text)
    returns = (
        "" if sig.return_annotation is sig.empty or function is Secret else f" -> {sig.return_annotation}"
    )
    return f"{name}({', '.join(params)}){returns}"


PLUGIN_METHODS = sorted(name for name, value in vars(Plugin).items() if callable(value) and name[0] != "_")


def test_the_plugin_has_the_five_documented_methods():
    assert PLUGIN_METHODS == ["execute", "on_save", "preview", "rate_limit_key", "test_connection"]


@pytest.mark.parametrize("name", PLUGIN_METHODS)
def test_every_public_method_of_plugin_is_in_the_guide_with_its_signature(name):
    signature = _signature(name, getattr(Plugin, name))
    assert f"**`{signature}`**" in GUIDE, signature


def test_the_guide_gives_the_secret_fields_signature():
    assert f"**`{_signature('Secret', Secret)}`**" in GUIDE


@pytest.mark.parametrize("event", EVENTS)
def test_every_event_is_in_the_guides_event_table_and_has_a_title(event):
    assert re.search(rf"^\| `{re.escape(event)}` \|", GUIDE, re.M), event
    assert event in EVENT_TITLES


def _section(text: str, heading: str) -> str:
    return text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]


def _readme_settings() -> dict[str, str]:
    """The configuration table: variable -> its default cell (``A` / `B`` rows split in two)."""
    table = {}
    for row in re.findall(r"^\| (`[A-Z].*?) \| (.*?) \| .* \|$", _section(README, "## Configuration"), re.M):
        names = re.findall(r"`([A-Z0-9_]+)`", row[0])
        defaults = row[1].split(" / ") if len(names) > 1 else [row[1]]
        assert len(defaults) == len(names), row
        table.update(zip(names, defaults, strict=True))
    return table


# Variables the app reads from the environment that are not an operator's setting.
NOT_SETTINGS = {"HOME", "PYTHONPATH", "WERKZEUG_RUN_MAIN"}


def test_the_readme_configuration_table_is_every_setting_with_its_default():
    table = _readme_settings()
    assert sorted(set(SETTINGS) - set(table)) == []
    source = "".join(p.read_text() for p in (ROOT / "app").rglob("*.py"))
    # The rest are read from the environment by `make run`, gunicorn's hooks or prometheus-client.
    read = set(re.findall(r'(?:environ|env)(?:\.get\(|\[)"([A-Z][A-Z0-9_]+)"', source)) - NOT_SETTINGS
    assert sorted(read - set(table)) == []
    assert sorted(set(table) - set(SETTINGS) - read) == []
    wrong = {}
    for name, (kind, default) in SETTINGS.items():
        shown = re.match(r"`([^`]*)`", table[name])
        if default == "":
            ok = shown is None or shown.group(1) == ""  # words: unset, generated, derived, ...
        elif kind in (int, float):
            ok = shown is not None and float(shown.group(1)) == default
        else:
            ok = shown is not None and shown.group(1).lower() == str(default).lower()
        if not ok:
            wrong[name] = (table[name], default)
    assert wrong == {}


def _layout() -> str:
    return README.split("Code layout:", 1)[1].split("\n\n", 2)[1]


def test_the_code_layout_names_what_exists_and_every_package_and_engine_module():
    rows = [line.split(" | ")[0] for line in _layout().splitlines()[2:]]
    named = [path for row in rows for path in re.findall(r"`([^`]+)`", row)]
    assert [path for path in named if not (ROOT / path).exists()] == []
    packages = {f"app/{p.parent.name}/" for p in (ROOT / "app").glob("*/__init__.py")}
    assert sorted(packages - set(named)) == []
    engine = next(line for line in _layout().splitlines() if line.startswith("| `app/engine/`"))
    said = set(re.findall(r"`([a-z_]+)`", engine))
    modules = {p.stem for p in (ROOT / "app" / "engine").glob("*.py")} - {"__init__"}
    assert sorted(modules - said) == []
    from app.engine import runner

    assert sorted(said - modules - set(vars(runner))) == []  # a name that is not a module is one of runner's
    models_row = next(line for line in _layout().splitlines() if line.startswith("| `app/models/`"))
    import app.models

    assert [n for n in re.findall(r"`([A-Z]\w+)`", models_row) if not hasattr(app.models, n)] == []


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _documented_routes() -> set[tuple[str, str]]:
    """(method, path with every ``<...>`` as ``<>``) for each endpoint the REST API section names; a path
    given without methods (`` `/retry` ``, `` `/api/auth/logout` ``) takes those of the one before it, and a
    bare ``/x`` continues the path before it."""
    found, methods, last = set(), ["GET"], ""
    for span in re.findall(r"`([^`]+)`", _section(README, "## REST API")):
        match = re.fullmatch(
            rf"((?:{'|'.join(METHODS)})(?:/(?:{'|'.join(METHODS)}))*)? ?(/[\w\-/<>.]+)(?:\?\S*)?", span
        )
        if not match:
            continue
        methods = match.group(1).split("/") if match.group(1) else methods
        path = re.sub(r"<[^>]*>", "<>", match.group(2))
        if (
            path.count("/") == 1
            and last
            and not path.startswith(("/api", "/hooks", "/healthz", "/readyz", "/metrics"))
        ):
            path = last.rsplit("/", 1)[0] + path  # `/retry` after `.../cancel`
        last = path
        found |= {(m, path) for m in methods}
    return found


def test_every_api_endpoint_is_in_the_readme_with_its_methods(app):
    documented = _documented_routes()
    missing = sorted(
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if not rule.endpoint.startswith(("admin.", "hosted.", "static"))
        and rule.rule not in ("/", "/favicon.ico")
        for method in rule.methods - {"HEAD", "OPTIONS"}
        if (method, re.sub(r"<[^>]*>", "<>", rule.rule)) not in documented
    )
    assert missing == []


def test_every_signal_is_in_the_readme():
    names = [s.name for s in vars(signals).values() if isinstance(s, NamedSignal)]
    assert len(names) >= 10
    assert [name for name in names if not _mentioned(name, README)] == []


@pytest.mark.parametrize("plugin_id", sorted(BUILTINS))
def test_every_config_field_of_a_built_in_plugin_has_a_description(plugin_id):
    schema = _load_ref(BUILTINS[plugin_id]).config_schema()
    assert [name for name, f in schema.fields.items() if not f.metadata.get("description")] == []


def _block(text: str, first_line: str) -> str:
    return re.search(rf"```python\n{re.escape(first_line)}\n(.*?)```", text, re.S).group(1)


def test_the_worked_example_is_what_the_scaffold_writes_and_is_short():
    code = _block(GUIDE, "# formhooks_acme/__init__.py")
    assert code == render_file("plugin.py.tmpl", "acme")
    assert _block(GUIDE, "# tests/test_acme.py") == render_file("test_plugin.py.tmpl", "acme")
    assert len(code.splitlines()) <= 80
    assert f"({len(code.splitlines())} lines of plugin code)" in GUIDE


def test_the_worked_example_passes_its_tests_as_printed(monkeypatch, tmp_path):
    package = tmp_path / "formhooks_acme"
    package.mkdir()
    (package / "__init__.py").write_text(_block(GUIDE, "# formhooks_acme/__init__.py"))
    (package / "icon.svg").write_text(render_file("icon.svg.tmpl", "acme"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "formhooks_acme", raising=False)
    tests = types.ModuleType("test_acme")
    exec(compile(_block(GUIDE, "# tests/test_acme.py"), "docs/plugins.md", "exec"), tests.__dict__)
    ran = []
    for name, test in vars(tests).items():
        if name.startswith("test_"):
            with FakeHTTP() as fake:
                test(fake)
            ran.append(name)
    assert len(ran) == 4
    assert sys.modules["formhooks_acme"].AcmePlugin.icon_svg.startswith("<svg")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (["red", "blue"], "red, blue|2 items"),
        (True, "yes|set"),
        (False, "no|unset"),
        (None, "|unset"),
        ("Zoë", "Zoë|set"),
    ],
)
def test_a_fields_value_is_what_the_guide_says(value, shown):
    """Printed as a person reads it; in logic the value as submitted (a list's length is its item count)."""
    snapshot = payload({"name": value})
    context = template_context(snapshot, select_fields(snapshot))
    source = (
        "{% for f in fields if f.name == 'name' %}{{ f.value }}|"
        "{% if f.value is sequence and f.value is not string %}{{ f.value | length }} items"
        "{% elif f.value %}set{% else %}unset{% endif %}{% endfor %}"
    )
    assert render(source, context) == shown


def test_the_readme_says_once_which_built_ins_declare_a_rate_limit():
    [listed] = re.findall(r"Rate limits a plugin declares \(([^)]*)\)", README)
    named = set(listed.split(", "))
    wrong = {}
    for plugin_id, ref in BUILTINS.items():
        plugin = _load_ref(ref)
        said = any(word in named for word in re.findall(r"\w+", plugin.name))
        if said != (plugin.rate_limit is not None):
            wrong[plugin_id] = said
    assert wrong == {}
