"""End to end, ours against the Flask + pymongo + RQ peer, interleaved (A B … peer, A B … peer, …) on one
store and one sink: ``make bench``'s end-to-end figure (``--e2e-submissions`` posts by ``--e2e-clients``
keep-alive clients to a form with one webhook, first post → last delivery) for several checkouts.

Each variant is ``name[:@root=/path][:NAME=VALUE,...]`` (``@root``: the app of another checkout, for a
before/after; the other items: app settings). Reports submissions/s, ÷ the peer of the same round, and CPU per submission
(all processes: app, store, sink, and the peer's redis and RQ workers).

    python -m bench.e2e_ab --rounds 3 before:@root=/tmp/before after
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

from bench import phases
from bench.drain_ab import at_root, spread
from bench.harness import Harness
from bench.settings import BenchSettings


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, *items = text.split(":", 1)
    env = dict(item.split("=", 1) for part in items for item in part.replace(":", ",").split(",") if item)
    return name, env


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e_ab")
    parser.add_argument("variants", nargs="+", type=parse_variant)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--submissions", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args(argv)
    base = BenchSettings(install_redis=False, e2e_submissions=args.submissions, e2e_clients=args.clients)
    rates: dict[str, list[float]] = {name: [] for name, _ in args.variants}
    ratios: dict[str, list[float]] = {name: [] for name, _ in args.variants}
    peers: list[float] = []
    cpu: dict[str, list[float]] = {name: [] for name, _ in [*args.variants, ("peer", {})]}
    with tempfile.TemporaryDirectory(prefix="e2e-ab-") as tmp:
        h = Harness(base, Path(tmp))
        try:
            for n in range(args.rounds):
                got = {}
                for name, env in args.variants:
                    env = dict(env)
                    with at_root(env.pop("@root", None)):
                        h.settings = replace(base, app_env=env)
                        run = phases.end_to_end(h, f"e_{name}_{n}")
                        got[name] = run.per_second
                        cpu[name].append(sum(run.cpu_ms.values()))
                    rates[name].append(got[name])
                h.settings = base
                peer, why = phases.peer_end_to_end(h, f"peer_{n}")
                if peer is None:
                    raise SystemExit(f"the peer could not run: {why}")
                peers.append(peer.end_to_end.per_second)
                cpu["peer"].append(sum(peer.end_to_end.cpu_ms.values()))
                for name, value in got.items():
                    ratios[name].append(value / peers[-1])
                line = ", ".join(f"{k} {v:.0f}" for k, v in got.items())
                print(f"round {n + 1}: {line}, peer {peers[-1]:.0f}", flush=True)
        finally:
            h.close()
    for name, _ in args.variants:
        r = ratios[name]
        print(
            f"{name}: submissions/s {spread(rates[name])}; ÷ peer {min(r):.2f}–{max(r):.2f}×"
            f" (median {statistics.median(r):.2f})"
        )
    print(f"peer (Flask + pymongo + RQ, 2 SimpleWorkers): submissions/s {spread(peers)}")
    print("CPU ms per submission, all processes: " + "; ".join(f"{k} {spread(v, 2)}" for k, v in cpu.items()))


if __name__ == "__main__":
    main()
