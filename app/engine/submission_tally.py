"""Submissions counted per form and hour for the dashboard (engine.rollups), off the intake's path: the
intake queues one small item after its write, and a batching thread adds them up, one bulk write per batch.

A count queued by a process that stops before its batch is written (a few milliseconds) is lost; ``flask
rebuild-rollups`` counts again from the submissions.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from flask import Flask

from app.engine import rollups
from app.engine.batching import Batcher
from app.services import services

Item = tuple[str, str | None, dt.datetime]
_LOCK = threading.Lock()


class SubmissionTally(Batcher[Item]):
    name = "formhooks-submission-tally"

    def count(self, submission: dict[str, Any]) -> None:
        """Count one accepted submission (its ``form_id``, ``workspace_id`` and ``created_at``)."""
        self.put((submission["form_id"], submission.get("workspace_id"), submission["created_at"]))

    def write(self, batch: list[Item]) -> None:
        rollups.submissions_collection().bulk_write(rollups.submission_ops(batch), ordered=False)


def tally(app: Flask) -> SubmissionTally:
    """The app's tally (started with its first submission)."""
    shared = services(app)
    if shared.submission_tally is None:
        with _LOCK:
            if shared.submission_tally is None:
                shared.submission_tally = SubmissionTally(max_delay=0.05, idle_exit=5.0)
    return shared.submission_tally
