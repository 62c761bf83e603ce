"""`flask plugin new NAME` writes a pip package whose plugin installs, passes its own tests and is discovered."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from app.contract.schema import secret_bindings
from app.contract.testing import check_plugin
from app.scaffold import generate
from app.services import services
from tests.conftest import Api

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# The host's own test tooling: a plugin's package must need none of it.
HOST_TOOLING = (
    "playwright",
    "schemathesis",
    "axe_playwright_python",
    "aiosmtpd",
    "standardwebhooks",
    "pytest_timeout",
)


def test_it_writes_a_package_with_the_entry_point_the_plugin_and_its_tests(app, tmp_path: Path):
    result = app.test_cli_runner().invoke(args=["plugin", "new", "acme_crm", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "formhooks-acme-crm"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == [
        "README.md",
        "formhooks_acme_crm/__init__.py",
        "formhooks_acme_crm/icon.svg",
        "pyproject.toml",
        "tests/test_acme_crm.py",
    ]
    pyproject = (root / "pyproject.toml").read_text()
    assert (
        '[project.entry-points."formhooks.plugins"]\nacme_crm = "formhooks_acme_crm:AcmeCrmPlugin"'
        in pyproject
    )
    assert 'id = "acme_crm"' in (root / "formhooks_acme_crm/__init__.py").read_text()


@pytest.mark.parametrize(
    ("name", "expected"), [("Acme-CRM", "lower-case letters"), ("acme_crm", "already exists")]
)
def test_it_refuses_a_bad_name_and_never_overwrites(app, tmp_path: Path, name, expected):
    (tmp_path / "formhooks-acme-crm").mkdir()
    result = app.test_cli_runner().invoke(args=["plugin", "new", name, "--dir", str(tmp_path)])
    assert result.exit_code != 0 and expected in result.output
    assert list((tmp_path / "formhooks-acme-crm").iterdir()) == []


@pytest.mark.slow
def test_the_generated_plugin_installs_passes_its_tests_and_appears_in_the_catalogue(
    make_app, tmp_path: Path, monkeypatch
):
    make_app().test_cli_runner().invoke(args=["plugin", "new", "scaffold_demo", "--dir", str(tmp_path)])
    root = tmp_path / "formhooks-scaffold-demo"
    # Installed into a folder of this test's own, put on the path: the shared environment (and the tests
    # running beside this one, whose apps discover installed plugins) never see it.
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-build-isolation", "--target", str(site), str(root)],
        check=True,
        timeout=180,
    )
    # The plugin from its folder, the host (app.contract.testing) from this checkout.
    path = os.pathsep.join(filter(None, [str(site), str(ROOT), os.environ.get("PYTHONPATH")]))
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(root / "pyproject.toml")],
        cwd=root,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout

    monkeypatch.syspath_prepend(str(site))
    app = make_app(PLUGIN_DISCOVERY=True)
    api = Api(app.test_client())
    [described] = [p for p in api.get("/api/plugins").json["items"] if p["id"] == "scaffold_demo"]
    assert (described["name"], described["secret_fields"]) == ("Scaffold Demo", ["api_key"])
    assert described["origin"].startswith("package formhooks")
    assert services(app).plugins.icon_svg("scaffold_demo").startswith("<svg")  # shipped icon


def _plugin_class(root: Path, name: str):
    spec = importlib.util.spec_from_file_location(
        f"formhooks_{name}", root / f"formhooks_{name}" / "__init__.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, "".join(w.capitalize() for w in name.split("_")) + "Plugin")


@pytest.mark.parametrize("name", ["acme", "acme_crm", "x2"])
def test_the_generated_secret_is_bound_to_the_url_and_keeps_the_kits_contract(tmp_path: Path, name):
    plugin = _plugin_class(generate(name, tmp_path), name)
    assert secret_bindings(plugin.config_schema()) == {"api_key": ["url"]}
    assert check_plugin(plugin) is None


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=300, env={**os.environ, **env}
    )


def test_a_scaffolded_package_passes_ruff_mypy_and_its_tests_with_the_plugin_dev_tools_alone(tmp_path: Path):
    root = generate("acme_crm", tmp_path)
    ruff = _run([str(BIN / "ruff"), "check", "--no-cache", "."], root)  # with the package's own config
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    own = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["ruff"]
    assert own == tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]  # Formhooks' rules
    # mypy reads Formhooks from this checkout (an editable install is invisible to it; see docs/plugins.md).
    mypy = _run(
        [str(BIN / "mypy"), "--cache-dir", str(tmp_path / "mypy-cache"), "."], root, MYPYPATH=str(ROOT)
    )
    assert mypy.returncode == 0 and "Success" in mypy.stdout, mypy.stdout + mypy.stderr
    # Its tests, with the host's test tooling unimportable and no pytest plugin but the kit.
    blocked = f"import sys; sys.modules.update(dict.fromkeys({HOST_TOOLING!r}))"
    run_tests = f"{blocked}; import pytest; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider']))"
    tests = _run(
        [sys.executable, "-c", run_tests],
        root,
        PYTHONPATH=os.pathsep.join([str(root), str(ROOT)]),
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
    )
    assert tests.returncode == 0 and "4 passed" in tests.stdout, tests.stdout + tests.stderr


def test_the_plugin_dev_extra_is_the_kits_tools_and_the_docs_say_to_install_it(tmp_path: Path):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extra = project["optional-dependencies"]["plugin-dev"]
    assert sorted(re.split(r"[<>=\[ ]", req)[0] for req in extra) == ["mypy", "pytest", "ruff"]
    assert not [req for req in extra if req.split(">")[0].replace("-", "_") in HOST_TOOLING]
    guide = (ROOT / "docs" / "plugins.md").read_text()
    readme = (generate("acme", tmp_path) / "README.md").read_text()
    for text in (guide, readme):
        assert (
            '"/path/to/formhooks[plugin-dev]"' in text
            and "ruff check . && mypy . && python -m pytest" in text
        )
    assert (ROOT / "app" / "py.typed").exists()  # mypy reads an installed Formhooks for its types


def test_every_dependency_is_listed_once():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for group in [project["dependencies"], *project["optional-dependencies"].values()]:
        names = [re.split(r"[<>=\[ ;]", req)[0].lower() for req in group]
        assert sorted({n for n in names if names.count(n) > 1}) == []


@pytest.mark.slow
def test_mypy_reads_an_installed_formhooks_for_the_scaffolds_types(tmp_path: Path):
    """The guide's way: Formhooks installed without -e. Its package must carry `py.typed`, or mypy sees the
    contract as untyped and `mypy .` of a generated package reports nothing it should (or fails)."""
    root = generate("acme_crm", tmp_path)
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=60)
    site = next((env / "lib").glob("python3*/site-packages"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", "install", "--no-deps"]
    subprocess.run([*pip, "--no-build-isolation", "--target", str(site), str(ROOT)], check=True, timeout=300)
    assert (site / "app" / "py.typed").exists() and (site / "app" / "contract" / "testing.py").exists()
    mypy_cmd = [
        str(BIN / "mypy"),
        "--cache-dir",
        str(tmp_path / "mypy-cache"),
        "--python-executable",
        str(env / "bin" / "python"),
        ".",
    ]
    mypy = _run(mypy_cmd, root)
    assert mypy.returncode == 0 and "Success" in mypy.stdout, mypy.stdout + mypy.stderr
    # and it does read Formhooks' types: a wrong call into the contract is an error
    plugin = root / "formhooks_acme_crm" / "__init__.py"
    plugin.write_text(
        plugin.read_text() + "\n\nfrom app.contract import TestResult\n\nTestResult(1, 2, 3, 4, 5)\n"
    )
    wrong = _run(mypy_cmd, root)
    assert wrong.returncode == 1 and "TestResult" in wrong.stdout, wrong.stdout + wrong.stderr
