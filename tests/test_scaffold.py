"""`flask plugin new NAME` writes a pip package whose plugin installs, passes its own tests and is discovered."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Api

ROOT = Path(__file__).resolve().parents[1]


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
    assert app.extensions["formhooks.plugins"].icon_svg("scaffold_demo").startswith("<svg")  # shipped icon
