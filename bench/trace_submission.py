"""Which app modules and threads one submission passes through, from its POST to its job's recorded outcome.

Starts an embedded store, an app with its scheduler and a loopback webhook sink, warms up with a few
submissions, then profiles one (``sys.setprofile``/``threading.setprofile``: every Python call in app/ and
plugins/, by module and thread) until its job is completed in the store. Periodic passes are pushed out of
the window (long intervals), so what is left is the submission's own path.

    python -m bench.trace_submission [--json] [--no-handoff]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

import pymongo

ROOT = Path(__file__).resolve().parents[1]
TRACED = (str(ROOT / "app") + "/", str(ROOT / "plugins") + "/")
TOKEN = "trace-admin-token"


class Trace:
    """Modules (as dotted names) and the threads they ran on, while ``recording``."""

    def __init__(self) -> None:
        self.recording = False
        self.modules: dict[str, set[str]] = defaultdict(set)  # module -> thread names

    def profile(self, frame: FrameType, event: str, _: Any) -> None:
        if event != "call" or not self.recording:
            return
        path = frame.f_code.co_filename
        if path.startswith(TRACED):
            module = path[len(str(ROOT)) + 1 : -3].replace("/", ".").removesuffix(".__init__")
            self.modules[module].add(threading.current_thread().name)

    def threads(self) -> set[str]:
        return {name for names in self.modules.values() for name in names}


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def trace(warmup: int = 5, handoff: bool = True) -> Trace:
    """``handoff`` False: new jobs are never claimed at insert (they start with the wake's claim)."""
    from app import create_app
    from app.engine.scheduler import Scheduler
    from app.services import services
    from app.store.embedded import EmbeddedStore

    if not handoff:
        Scheduler.claim_at_insert = lambda self, docs: []  # type: ignore[method-assign]

    found = Trace()
    threading.setprofile(found.profile)  # threads started from now on (the app's) are traced
    sys.setprofile(found.profile)
    store = EmbeddedStore(Path(tempfile.mkdtemp(prefix="fh-trace-"))).start()
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    app = create_app(
        {
            "MONGODB_URI": store.uri,
            "MONGODB_DB": "trace",
            "ADMIN_TOKEN": TOKEN,
            "SECRET_KEY": "trace",
            "DATA_DIR": tempfile.mkdtemp(prefix="fh-trace-data-"),
            "ALLOW_PRIVATE_DESTINATIONS": True,
            "PLUGIN_DISCOVERY": False,
            "SCHEDULER_ENABLED": True,
            # periodic passes out of the window: only the submission's own path is left
            "POLL_INTERVAL": 600,
            "SWEEP_INTERVAL": 600,
            "LEASE_SECONDS": 1200,
            "ALERT_CHECK_INTERVAL": 600,
        }
    )
    jobs = pymongo.MongoClient(store.uri)["trace"]["plugin_jobs"]
    client, headers = app.test_client(), {"Authorization": f"Bearer {TOKEN}"}
    try:
        form = client.post("/api/forms", json={"name": "Trace", "fields": []}, headers=headers).json
        hook = {"plugin_id": "webhook", "config": {"url": f"http://127.0.0.1:{sink.server_port}/hook"}}
        assert client.post(f"/api/forms/{form['id']}/plugins", json=hook, headers=headers).status_code == 201
        url = f"/api/forms/{form['id']}/submissions"

        def submit_and_wait(record: bool) -> None:
            found.recording = record
            job_id = client.post(url, json={"data": {"n": 1}}).json["jobs"][0]
            sys.setprofile(None)  # the request is over; the wait below is the trace's, not the app's
            deadline = time.monotonic() + 30
            while (jobs.find_one({"_id": _oid(job_id)}) or {}).get("status") != "completed":
                if time.monotonic() > deadline:
                    raise TimeoutError(f"job {job_id} did not complete")
                time.sleep(0.005)
            found.recording = False
            sys.setprofile(found.profile)

        for _ in range(warmup):
            submit_and_wait(False)
        time.sleep(0.5)  # the warm-up's batchers go idle
        found.modules.clear()
        submit_and_wait(True)
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
        sys.setprofile(None)
        scheduler = services(app).scheduler
        if scheduler is not None:
            scheduler.shutdown(grace=1)
        sink.shutdown()
        store.stop()
    return found


def _oid(job_id: str) -> Any:
    from bson import ObjectId

    return ObjectId(job_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--no-handoff", action="store_true", help="jobs start with a claim, not at insert")
    args = parser.parse_args()
    found = trace(handoff=not args.no_handoff)
    modules = sorted(found.modules)
    threads = sorted(found.threads())
    if args.json:
        print(json.dumps({"modules": {m: sorted(found.modules[m]) for m in modules}, "threads": threads}))
        return
    print(f"{len(modules)} app modules on {len(threads)} threads: {', '.join(threads)}")
    for module in modules:
        print(f"  {module:40} {', '.join(sorted(found.modules[module]))}")


if __name__ == "__main__":
    main()
