"""The scale run's background operations (issue 22), each on a fresh store on `make run`'s settings (2 workers,
scheduler on): a backfill with no live traffic (bench.backfill_speed), live dispatch at the paced rate (50/s)
without and during a backfill (bench.backfill), and live dispatch without and during retention removing
``N`` old submissions with their job and log each (written straight into the store as
bench.retention_speed writes them), timed until retention has removed them all.

    python -m bench.ops_live retention 20000 [SETTING=VALUE ...]
    python -m bench.ops_live backfill 5000 [SETTING=VALUE ...]

And on a store ``make bench-scale`` seeded and kept (``--dir``): live dispatch without, then during retention
removing every submission of its big form (half the store) for at most SECONDS; the store's data is gone
afterwards (seed it again for another scale run):

    python -m bench.ops_live seeded-retention /tmp/scale 900 [SETTING=VALUE ...]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import mongoengine

from app.models import utcnow
from bench import backfill_speed, retention_speed
from bench.backfill import dispatch_during_backfill, paced_latencies
from bench.harness import Harness
from bench.scale import DB as SCALE_DB
from bench.settings import BenchSettings
from bench.stats import percentile

DB = "bench_ops_live"

KEEP_DAYS = 30


def _latencies(ms: list[float]) -> dict[str, Any]:
    return {"n": len(ms), "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99)}


def retention_beside_live(h: Harness, old: int, env: dict[str, str], timeout: float = 7200) -> dict[str, Any]:
    """Live dispatch (paced runs of ``dispatch_seconds`` each) before, and all the while, retention removes
    ``old`` submissions 60 days old from another form keeping ``KEEP_DAYS`` days; the removal's rate."""
    app = h.start_app(DB, scheduler=True, env=env)
    try:
        admin = h.admin(app)
        live_form, _ = admin.form_with_webhooks("Live", h.sink.url, 1)
        old_form = admin.create_form("Old")
        mongoengine.connect(DB, host=h.store.uri, alias="default")
        try:
            retention_speed.seed(old_form, old, utcnow() - dt.timedelta(days=60))
        finally:
            mongoengine.disconnect(alias="default")
        subs = h.mongo[DB]["submissions"]
        h.sink.reset()
        refused_before: list[tuple[float, float]] = []
        baseline = paced_latencies(h, app.url, DB, live_form, refused_before)
        resp = admin.http.patch(
            f"{admin.base}/api/forms/{old_form}", json={"retention_days": KEEP_DAYS}, timeout=60
        )
        assert resp.status_code == 200, resp.text
        started = time.monotonic()
        during: list[float] = []
        refused: list[tuple[float, float]] = []  # live submissions answered 503 (not stored)
        left = old
        while left and time.monotonic() - started < timeout:
            during += paced_latencies(h, app.url, DB, live_form, refused)
            left = subs.count_documents({"form_id": old_form})
        took = time.monotonic() - started
        admin.close()
    finally:
        app.stop()
        h.mongo.drop_database(DB)
    return {
        "old": old,
        "removed": old - left,
        "seconds": round(took, 1),  # (to the paced run during which the last one went)
        "removed_per_s": round((old - left) / took, 1),
        "without": {**_latencies(baseline), "refused": len(refused_before)},
        "during": {**_latencies(during), "refused": len(refused)},
        "refused_waits_s": sorted(round(took, 1) for _, took in refused)[-5:],
    }


def retention_on_seeded(h: Harness, seconds: float, env: dict[str, str]) -> dict[str, Any]:
    """Live dispatch (paced runs) to a new form before, then while retention removes every submission of the
    scale store's big form (its retention set to one day: all but the last day's), for at most ``seconds``;
    what it removed (from its own record) and the rate."""
    seeded = json.loads((h.workdir / "seeded.json").read_text())
    big = seeded["big_form"]
    app = h.start_app(SCALE_DB, scheduler=True, env=env)
    try:
        admin = h.admin(app)
        live_form, _ = admin.form_with_webhooks("Live beside retention", h.sink.url, 1)
        h.sink.reset()
        refused_before: list[tuple[float, float]] = []
        baseline = paced_latencies(h, app.url, SCALE_DB, live_form, refused_before)
        resp = admin.http.patch(f"{admin.base}/api/forms/{big}", json={"retention_days": 1}, timeout=60)
        assert resp.status_code == 200, resp.text
        started = time.monotonic()
        during: list[float] = []
        refused: list[tuple[float, float]] = []
        removed = 0
        while time.monotonic() - started < seconds:
            during += paced_latencies(h, app.url, SCALE_DB, live_form, refused)
            records = h.mongo[SCALE_DB]["data_removals"].find({"kind": "retention", "form_id": big})
            removed = sum(r.get("submissions", 0) for r in records)
        took = time.monotonic() - started
        admin.close()
    finally:
        app.stop()
    return {
        "big_form_submissions": seeded["counts"].get("submissions", 0) // 2,
        "removed": removed,
        "seconds": round(took, 1),
        "removed_per_s": round(removed / took, 1),
        "without": {**_latencies(baseline), "refused": len(refused_before)},
        "during": {**_latencies(during), "refused": len(refused)},
        "refused_waits_s": sorted(round(took, 1) for _, took in refused)[-5:],
    }


def backfill_beside_live(h: Harness, count: int, env: dict[str, str]) -> dict[str, Any]:
    """A backfill of ``count`` alone (its rate), then live dispatch without and during another one."""
    alone = backfill_speed.measure(h, count, env)
    h.settings.app_env.update(env)
    live = dispatch_during_backfill(h, DB, count)
    h.mongo.drop_database(DB)
    return {
        "alone": alone,
        "without": _latencies(live.baseline_ms),
        "during": _latencies(live.during_ms),
        "backfill_per_s_during": round(live.backfill_per_second, 1),
    }


def main(argv: list[str]) -> None:
    what = argv[0]
    env = dict(arg.split("=", 1) for arg in argv[2:] if "=" in arg)
    with tempfile.TemporaryDirectory() as work:
        h = Harness(BenchSettings(), Path(argv[1] if what == "seeded-retention" else work))
        try:
            load = os.getloadavg()
            if what == "seeded-retention":
                got = retention_on_seeded(h, float(argv[2]), env)
            elif what == "retention":
                count = int(argv[1])
                got = retention_beside_live(h, count, env)
            else:
                got = backfill_beside_live(h, int(argv[1]), env)
            got["load"] = [round(x, 1) for x in (*load, *os.getloadavg())]  # at the start, then at the end
            print(json.dumps({what: got, "env": env}), flush=True)
        finally:
            h.close()


if __name__ == "__main__":
    main(sys.argv[1:])
