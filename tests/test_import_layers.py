"""The layers import downwards: the API never imports the hosted pages that post to it (they register their
answer to a failed browser post instead), at module level or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1] / "app"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("path", sorted((APP / "api").rglob("*.py")), ids=lambda p: p.name)
def test_the_api_does_not_import_the_hosted_pages(path):
    assert not [name for name in _imports(path) if name == "app.hosted" or name.startswith("app.hosted.")]
