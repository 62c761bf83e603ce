"""Where one process's drain of a backlog written elsewhere goes: store commands per job and a profile.

Starts an embedded store and the bench's sink, writes ``--jobs`` webhook jobs through an app process with
its scheduler off (``--hooks`` webhooks per submission), then drains them in this process with the
scheduler on, counting every store command (a pymongo ``CommandListener``: count and summed duration by
command, collection and filter keys) and profiling the app's threads (cProfile per thread, merged).

    python -m bench.drain_profile --jobs 3000 --hooks 1 [--lease 5] [--env NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pymongo import monitoring

from bench import phases
from bench.harness import Harness
from bench.settings import BenchSettings


class Commands(monitoring.CommandListener):
    """Count and summed duration of store commands, by command, collection and the filter's keys."""

    def __init__(self) -> None:
        self.on = False
        self.count: Counter[str] = Counter()
        self.micros: Counter[str] = Counter()
        self._kinds: dict[int, str] = {}
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if not self.on:
            return
        cmd = event.command
        name = event.command_name
        coll = cmd.get(name) if isinstance(cmd.get(name), str) else ""
        shape = ""
        if name == "find":
            shape = ",".join(sorted(cmd.get("filter", {})))
        elif name == "update":
            shape = ",".join(sorted((cmd.get("updates") or [{}])[0].get("q", {}))) + f" x{len(cmd.get('updates') or [])}"
        elif name == "aggregate":
            shape = ",".join(next(iter(stage)) for stage in cmd.get("pipeline", []))
        with self._lock:
            self._kinds[event.request_id] = f"{name} {coll} [{shape}]"

    def _done(self, event: Any) -> None:
        with self._lock:
            kind = self._kinds.pop(event.request_id, None)
            if kind is not None:
                self.count[kind] += 1
                self.micros[kind] += event.duration_micros

    succeeded = failed = _done


PROFILES: list[cProfile.Profile] = []


def profile_threads() -> None:
    """Every thread started from now on runs under its own cProfile (kept in PROFILES)."""
    run = threading.Thread.run

    def profiled(self: threading.Thread) -> None:
        prof = cProfile.Profile()
        PROFILES.append(prof)
        prof.enable()
        try:
            run(self)
        finally:
            prof.disable()

    threading.Thread.run = profiled  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.drain_profile")
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--hooks", type=int, default=1)
    parser.add_argument("--lease", type=float, default=5.0)
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    args = parser.parse_args(argv)
    commands = Commands()
    monitoring.register(commands)
    with tempfile.TemporaryDirectory(prefix="drain-prof-") as tmp:
        h = Harness(BenchSettings(install_redis=False), Path(tmp))
        try:
            phases.preload(h, "prof", args.jobs, args.hooks)
            from app import create_app  # noqa: PLC0415
            from app.services import services  # noqa: PLC0415

            env = h.app_env("prof", True, dict(item.split("=", 1) for item in args.env))
            env["LEASE_SECONDS"] = str(args.lease)
            if args.profile:
                profile_threads()
            h.sink.reset()
            commands.on = True
            started = time.monotonic()
            app = create_app({k: v for k, v in env.items()})
            stats = h.wait_delivered(args.jobs, timeout=300)
            h.wait_drained("prof", timeout=60)
            wall = time.monotonic() - started
            commands.on = False
            services(app).scheduler.shutdown(grace=1)
            time.sleep(0.5)
        finally:
            h.close()
    seconds = stats["last"] - stats["first"]
    print(f"{args.jobs} jobs, {args.hooks} hooks: {(stats['unique'] - 1) / seconds:.0f} jobs/s (first→last), wall {wall:.1f} s")
    print(f"{'per job':>8} {'ms/job':>7}  command")
    for kind, n in commands.count.most_common(25):
        print(f"{n / args.jobs:8.3f} {commands.micros[kind] / 1000 / args.jobs:7.3f}  {kind}")
    total = sum(commands.count.values())
    print(f"{total / args.jobs:8.3f} {sum(commands.micros.values()) / 1000 / args.jobs:7.3f}  all")
    if PROFILES:
        out = io.StringIO()
        merged = pstats.Stats(PROFILES[0], stream=out)
        for prof in PROFILES[1:]:
            try:
                merged.add(prof)
            except (TypeError, ValueError):
                continue
        merged.sort_stats("tottime").print_stats(25)
        print(out.getvalue())


if __name__ == "__main__":
    main()
