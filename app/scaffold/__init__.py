"""``flask plugin new NAME``: a pip package holding a working plugin and its tests, made with the test kit.

The generated plugin posts each submission to an HTTP API; its tests pass as generated.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

HERE = Path(__file__).parent
NAME = re.compile(r"^[a-z][a-z0-9_]{1,48}$")
# generated file -> template
FILES = {
    "pyproject.toml": "pyproject.toml.tmpl",
    "README.md": "README.md.tmpl",
    "formhooks_{name}/__init__.py": "plugin.py.tmpl",
    "formhooks_{name}/icon.svg": "icon.svg.tmpl",
    "tests/test_{name}.py": "test_plugin.py.tmpl",
}


def names(name: str) -> dict[str, str]:
    """The spellings of a plugin id: ``acme_crm`` → Title ``Acme Crm``, Class ``AcmeCrm``, dashed ``acme-crm``."""
    if not NAME.match(name):
        raise ValueError(
            "A plugin name is lower-case letters, digits and _ (2-49 characters), starting with a letter."
        )
    words = name.split("_")
    return {
        "name": name,
        "Title": " ".join(w.capitalize() for w in words if w),
        "Class": "".join(w.capitalize() for w in words if w),
        "dashed": name.replace("_", "-"),
    }


def render_file(template: str, name: str) -> str:
    return Template((HERE / template).read_text()).substitute(names(name))


def generate(name: str, parent: Path) -> Path:
    """Write the package ``formhooks-<name>`` under ``parent``; FileExistsError if it is there already."""
    spelled = names(name)
    root = parent / f"formhooks-{spelled['dashed']}"
    if root.exists():
        raise FileExistsError(f"{root} already exists.")
    for target, template in FILES.items():
        path = root / target.format(name=name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_file(template, name))
    return root
