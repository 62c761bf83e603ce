"""Drain shapes measured back to back, interleaved (A B … RQ, A B … RQ, …), on one store and one sink.

Each shape is ``name:hooks:lease[:NAME=VALUE,...]`` (``@root=/path``: the app of another checkout): its backlog is ``--jobs`` webhook jobs written by an
app with its scheduler off (``hooks`` webhooks per submission), then drained by an app with its scheduler on
and ``LEASE_SECONDS=lease`` (and the extra settings). Each round also drains ``--jobs`` jobs with two RQ
``SimpleWorker``s, so every figure has a peer from the same moment. Reports jobs/s (first → last delivery,
as ``make bench``) and the wall time from the app's start to the last job finished, median and spread.

    python -m bench.drain_ab --jobs 3000 --rounds 3 bench:3:10 issue:1:5
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from bench import phases, procs
from bench.harness import Harness
from bench.settings import BenchSettings


@dataclass
class Shape:
    name: str
    hooks: int
    lease: float
    env: dict[str, str]


def parse_shape(text: str) -> Shape:
    name, hooks, lease, *rest = text.split(":")
    env = dict(item.split("=", 1) for item in rest[0].split(",")) if rest and rest[0] else {}
    return Shape(name, int(hooks), float(lease), env)


@contextlib.contextmanager
def at_root(root: str | None) -> Iterator[None]:
    """Apps started meanwhile run another checkout's code (``root``; None: this one), same harness."""
    saved = procs.ROOT
    procs.ROOT = Path(root) if root else saved
    try:
        yield
    finally:
        procs.ROOT = saved


def drain(h: Harness, db: str, jobs: int, shape: Shape) -> tuple[float, float, dict[str, float]]:
    """(jobs/s first → last delivery, wall seconds from the app's start to the backlog drained, CPU ms per
    job by process kind: ``app`` and ``store`` barely move with other load on the machine)."""
    h.settings = replace(h.settings, lease_seconds=shape.lease)
    env = dict(shape.env)
    with at_root(env.pop("@root", None)):  # another checkout's app (before/after a change)
        started = time.monotonic()
        result = phases.throughput(h, db, jobs, env)
    return result.per_second, time.monotonic() - started, result.cpu_ms


def spread(values: list[float], digits: int = 0) -> str:
    m, lo, hi = statistics.median(values), min(values), max(values)
    return f"median {m:.{digits}f} (range {lo:.{digits}f}–{hi:.{digits}f})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.drain_ab")
    parser.add_argument("shapes", nargs="+", type=parse_shape)
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-rq", dest="rq", action="store_false")
    args = parser.parse_args(argv)
    rates: dict[str, list[float]] = {s.name: [] for s in args.shapes}
    walls: dict[str, list[float]] = {s.name: [] for s in args.shapes}
    ratios: dict[str, list[float]] = {s.name: [] for s in args.shapes}
    cpu: dict[str, dict[str, list[float]]] = {s.name: {"app": [], "store": []} for s in args.shapes}
    rq: list[float] = []
    with tempfile.TemporaryDirectory(prefix="drain-ab-") as tmp:
        h = Harness(BenchSettings(install_redis=False), Path(tmp))
        try:
            for n in range(args.rounds):
                for shape in args.shapes:  # backlogs first: the drains then run back to back
                    phases.preload(h, f"ab_{shape.name}_{n}", args.jobs, shape.hooks)
                got = {}
                for shape in args.shapes:
                    got[shape.name], wall, used = drain(h, f"ab_{shape.name}_{n}", args.jobs, shape)
                    for kind, values in cpu[shape.name].items():
                        values.append(used.get(kind, 0.0))
                    rates[shape.name].append(got[shape.name])
                    walls[shape.name].append(wall)
                peer = phases.rq_peer(h, args.jobs, simple=True)[0] if args.rq else None
                if peer:
                    rq.append(peer.per_second)
                    for name, value in got.items():
                        ratios[name].append(value / peer.per_second)
                line = ", ".join(f"{k} {v:.0f}" for k, v in got.items())
                print(f"round {n + 1}: {line}" + (f", RQ {peer.per_second:.0f}" if peer else ""), flush=True)
        finally:
            h.close()
    for shape in args.shapes:
        name = shape.name
        ratio = ratios[name]
        extra = f"; ÷ RQ {min(ratio):.2f}–{max(ratio):.2f}× (median {statistics.median(ratio):.2f})" if ratio else ""
        print(f"{name}: jobs/s {spread(rates[name])}; wall s {spread(walls[name], 1)}{extra}")
        print(f"{name}: CPU ms per job: " + "; ".join(f"{k} {spread(v, 2)}" for k, v in cpu[name].items()))
    if rq:
        print(f"RQ SimpleWorker x2: jobs/s {spread(rq)}")


if __name__ == "__main__":
    main()
