"""How fast a backfill goes with no live traffic: N old submissions written straight into the store, one
backfill through the API on `make run`'s settings (2 workers), timed until every job is delivered.

    python -m bench.backfill_speed [N] [SETTING=VALUE ...]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from bson import ObjectId

from bench.backfill import _state, seed_submissions
from bench.harness import Harness
from bench.settings import BenchSettings

DB = "bench_backfill_speed"


def measure(h: Harness, count: int, env: dict[str, str]) -> dict[str, float]:
    """Seconds to the operation's end and to the last delivery, and submissions per second."""
    app = h.start_app(DB, scheduler=True, env=env)
    try:
        admin = h.admin(app)
        form, [hook] = admin.form_with_webhooks("Old", h.sink.url, 1)
        workspace = h.mongo[DB]["forms"].find_one({"_id": ObjectId(form)})["workspace_id"]
        seed_submissions(h, DB, form, workspace, count)
        h.sink.reset()
        store_cpu = h.cpu()["store"]
        started = time.monotonic()
        op = admin.http.post(f"{admin.base}/api/plugin-configs/{hook}/backfill", json={}, timeout=60).json()
        while _state(admin, op["id"])["status"] == "running":
            time.sleep(0.2)
        operation = time.monotonic() - started
        h.wait_delivered(count, timeout=3600)
        delivered = time.monotonic() - started
        store_cpu = h.cpu()["store"] - store_cpu
        admin.close()
    finally:
        app.stop()
        h.mongo.drop_database(DB)
    return {
        "submissions": count,
        "operation_s": round(operation, 1),
        "delivered_s": round(delivered, 1),
        "per_second": round(count / delivered, 1),
        "store_cpu_share": round(store_cpu / delivered, 2),  # of one core, over the run
    }


def main(argv: list[str]) -> None:
    count = int(argv[0]) if argv and argv[0].isdigit() else 5000
    env = dict(arg.split("=", 1) for arg in argv if "=" in arg)
    with tempfile.TemporaryDirectory() as work:
        h = Harness(BenchSettings(), Path(work))
        try:
            print(measure(h, count, env), flush=True)
        finally:
            h.close()


if __name__ == "__main__":
    main(sys.argv[1:])
