"""How fast retention removes old submissions with their postings, jobs and logs, as fast as it can (share 1):
``old`` submissions received 60 days ago and ``young`` ones received today, each with one finished job and its
log, written straight into the store; one pass on a form keeping 30 days.

    python -m bench.retention_speed [OLD] [YOUNG]
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

from bson import ObjectId

from app import create_app
from app.engine import retention
from app.models import Form, PluginExecutionLog, PluginJob, Submission, search_terms, utcnow
from app.store.embedded import EmbeddedStore
from bench.client import sample_data

BATCH = 250


def seed(form_id: str, count: int, at: dt.datetime) -> None:
    for first in range(0, count, BATCH):
        subs, jobs, logs = [], [], []
        for i in range(first, min(count, first + BATCH)):
            sub_id, job_id = ObjectId(), ObjectId()
            created = at + dt.timedelta(seconds=i)
            sub = {
                "_id": sub_id,
                "form_id": form_id,
                "workspace_id": None,
                "data": sample_data(i),
                "revision": 1,
                "deleted": False,
                "created_at": created,
                "updated_at": created,
            }
            subs.append({**sub, **search_terms.search_fields(sub)})
            jobs.append(
                {
                    "_id": job_id,
                    "config_id": "c",
                    "form_id": form_id,
                    "submission_id": str(sub_id),
                    "plugin_id": "webhook",
                    "event": "form.submitted",
                    "status": "completed",
                    "dispatch_key": f"k{sub_id}",
                    "idempotency_key": str(sub_id),
                    "payload": sub["data"],
                }
            )
            logs.append(
                {
                    "job_id": str(job_id),
                    "config_id": "c",
                    "form_id": form_id,
                    "submission_id": str(sub_id),
                    "attempt": 1,
                    "status": "success",
                    "request": {"body": sub["data"]},
                }
            )
        Submission._get_collection().insert_many(subs)
        search_terms.SubmissionTerm._get_collection().insert_many(
            [p for s in subs for p in search_terms.postings(s)]
        )
        PluginJob._get_collection().insert_many(jobs)
        PluginExecutionLog._get_collection().insert_many(logs)


def main(argv: list[str]) -> None:
    old = int(argv[0]) if argv else 5000
    young = int(argv[1]) if len(argv) > 1 else 20000
    with tempfile.TemporaryDirectory() as work:
        store = EmbeddedStore(Path(work) / "store").start()
        try:
            app = create_app(
                {
                    "MONGODB_URI": store.uri,
                    "MONGODB_DB": "bench_retention",
                    "SECRET_KEY": "x" * 32,
                    "DATA_DIR": str(Path(work) / "data"),
                    "SCHEDULER_ENABLED": False,
                    "PLUGIN_DISCOVERY": False,
                    "ADMIN_TOKEN": "bench",
                }
            )
            with app.app_context():
                form = Form(name="Old", retention_days=30).save()
                now = utcnow()
                started = time.monotonic()
                seed(str(form.id), old, now - dt.timedelta(days=60))
                seed(str(form.id), young, now - dt.timedelta(hours=1))
                seeded = time.monotonic() - started
                started = time.monotonic()
                removed = retention.run_pass(batch=100, share=1.0, seconds=3600)
                took = time.monotonic() - started
                left = len(list(PluginJob._get_collection().find({"form_id": str(form.id)}, {"_id": 1})))
            print(
                {
                    "old": old,
                    "young": young,
                    "seed_s": round(seeded, 1),
                    "removed": removed.submissions,
                    "pass_s": round(took, 1),
                    "per_second": round(removed.submissions / took, 1),
                    "jobs_left": left,
                },
                flush=True,
            )
        finally:
            store.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
