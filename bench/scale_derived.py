"""What the app derives from the submissions and jobs, written for a store seeded straight (bench/scale.py):
each form's results figures (``app.models.figures.tally``, what the indexer writes) and the delivery and
submission rollups (``app.engine.rollup_rebuild``, what the engine counts as jobs settle and the indexer as
submissions are accepted). Also brings a store seeded before them up to date (``python -m bench.scale --dir``
derives them when the store has none).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from typing import Any

from bson import ObjectId

from app.models import Form, Submission
from app.models import figures as fig

WRITE = 1_000  # figures documents per insert_many


def has_figures(database: Any) -> bool:
    return database[fig.FormFigures._meta["collection"]].find_one({}, {"_id": 1}) is not None


def write_figures(database: Any, form_ids: list[str]) -> int:
    """Each form's figures (days and months) from its submissions as stored, in one streaming read per form;
    how many figures documents were written (a form's earlier ones are replaced)."""
    coll = database[fig.FormFigures._meta["collection"]]
    subs = database[Submission._meta["collection"]]
    written = 0
    forms = database[Form._meta["collection"]].find({"_id": {"$in": [ObjectId(f) for f in form_ids]}})
    for form in list(forms):
        form_id = str(form["_id"])
        coll.delete_many({"form_id": form_id})
        docs = subs.find({"form_id": form_id}, {"data": 1, "created_at": 1, "deleted": 1}, batch_size=5_000)
        found = fig.tally(form_id, form.get("fields") or [], docs)
        for first in range(0, len(found), WRITE):
            coll.insert_many(found[first : first + WRITE], ordered=False)
        written += len(found)
    return written


def write_rollups(uri: str, db: str, data_dir: str) -> dict[str, int]:
    """The delivery and submission rollups counted again from the store by ``flask rebuild-rollups``, in a
    process of its own (this one may hold another store's connection, as the test suite's does)."""
    env = {**os.environ, "MONGODB_URI": f"{uri.rstrip('/')}/{db}", "SCHEDULER_ENABLED": "false", "DATA_DIR": data_dir}
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app:create_app", "rebuild-rollups"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r"done: (\d+) jobs, (\d+) submissions", done)
    if found is None:
        raise RuntimeError(f"rebuild-rollups said: {done[-500:]}")
    return {"rollup_jobs": int(found[1]), "rollup_submissions": int(found[2])}


def derive(
    database: Any, uri: str, db: str, form_ids: list[str], data_dir: str
) -> tuple[dict[str, float], dict[str, int]]:
    """Figures then rollups: seconds and counts of each."""
    began = time.monotonic()
    figures = write_figures(database, form_ids)
    middle = time.monotonic()
    rebuilt = write_rollups(uri, db, data_dir)
    end = time.monotonic()
    seconds = {"figures": middle - began, "rollups": end - middle}
    counts = {"form_figures": figures, **rebuilt}
    return seconds, counts
