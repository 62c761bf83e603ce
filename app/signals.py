"""Blinker signals. Trigger signals carry a FormEvent (``event``), the ``form``, the ``submission`` and the
view's write unit (``unit``, engine.write_unit): listeners add their jobs to it and return nothing; the view
commits it (from the intake, with the submission in one ordered write) and reads the jobs' ids from it.
Lifecycle signals carry the job."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from blinker import Namespace

ns = Namespace()

form_submitted = ns.signal("form.submitted")
form_updated = ns.signal("form.updated")
response_edited = ns.signal("response.edited")
response_deleted = ns.signal("response.deleted")

TRIGGERS = {s.name: s for s in (form_submitted, form_updated, response_edited, response_deleted)}

# The crash sweep finishes a form event's dispatch (event, form, submission; no unit), before it clears the
# event's marker: listeners start, idempotently, what the event should have started (workflow runs).
event_recovered = ns.signal("form.event.recovered")

# Lifecycle: created (job_id, plugin_id), started (job), completed (job, duration), failed for good
# (job, error, duration); plus retried (job, error, delay, duration) and deferred (job, reason, seconds).
job_created = ns.signal("plugin.job.created")
job_started = ns.signal("plugin.job.started")
job_completed = ns.signal("plugin.job.completed")
job_failed = ns.signal("plugin.job.failed")
job_retried = ns.signal("plugin.job.retried")
job_deferred = ns.signal("plugin.job.deferred")

# Isolation (sender None): a render refused by its budget (limit), a plugin worker process replaced (reason).
render_refused = ns.signal("template.render.refused")
worker_replaced = ns.signal("plugin.worker.replaced")


@dataclass(frozen=True)
class FormEvent:
    """Something happened to a form or one of its submissions.

    ``key`` identifies this occurrence deterministically (form or submission, revision, event), so that
    dispatching it twice creates each job once.
    """

    name: str
    form_id: str
    key: str
    occurred_at: dt.datetime
    submission_id: str | None = None
    revision: int = 1
    previous_data: dict[str, Any] | None = None  # an edit's data before it (conditions that newly match)
