"""The gunicorn master imports what its workers need before it forks them, so that they share it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from app.shared_imports import enabled
from tests.support.procs import ROOT, app_env

CREATE_AFTER_SHARING = """
import sys
from app.shared_imports import share_imports

share_imports()
before = set(sys.modules)
from app import create_app

create_app()
print(" ".join(sorted(set(sys.modules) - before)))
"""


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_a_worker_creating_the_app_imports_nothing_the_master_did_not(store_uri, db_name, tmp_path, isolation):
    env = {**os.environ, **app_env(store_uri, db_name, tmp_path, PLUGIN_ISOLATION=isolation)}
    env["SCHEDULER_ENABLED"] = "false"
    run = subprocess.run(
        [sys.executable, "-c", CREATE_AFTER_SHARING], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == []


def test_sharing_is_on_unless_turned_off():
    assert enabled({})
    assert enabled({"WEB_SHARED_IMPORTS": "true"})
    assert not enabled({"WEB_SHARED_IMPORTS": "false"})
