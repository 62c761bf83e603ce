"""Engine mechanisms measured on and off, interleaved (base, variant, base, variant, …) on one store.

Each variant is ``name:NAME=VALUE[,NAME=VALUE]`` (app settings for every app of that variant; ``@root=/path``:
the app of another checkout, for before/after a change). Per round and variant: intake alone (req/s), end to
end (submissions/s, post → last delivery), dispatch latency (p50, p99 at ``--rate``/s) and a drain of a
backlog written by another process (jobs/s). With ``--peers``, each round also runs the peers of the phases
chosen (end to end: Flask + pymongo + RQ; drain: two RQ ``SimpleWorker``s), and every figure gets its ratio
to the peer of its round. Reports medians and ranges.

    python -m bench.onoff --rounds 3 base: nocache:FORM_CACHE_SECONDS=0
    python -m bench.onoff --rounds 3 --only e2e,drain --peers before:@root=/tmp/main after:

Group commit, hand-off at insert and wake on create have no setting: they were measured (figures in their
docstrings) from a copy of the code with a temporary ``os.environ`` switch at each (a caller writes alone
in ``GroupInsert.write``; ``Scheduler.claim_at_insert`` returns ``[]``; ``_on_job_created`` returns).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

from bench import phases, procs
from bench.harness import Harness
from bench.settings import BenchSettings
from bench.stats import rate


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, rest = text.partition(":")
    return name, dict(item.split("=", 1) for item in rest.split(",") if item)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.onoff")
    parser.add_argument("variants", nargs="+", type=parse_variant)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--only", default="intake,e2e,dispatch,drain")
    parser.add_argument("--drain-hooks", type=int, default=1, help="webhooks the drained backlog is spread over")
    parser.add_argument("--peers", action="store_true", help="each round, the RQ peers too (ratios)")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    base = BenchSettings(
        install_redis=False,
        e2e_submissions=args.submissions,
        dispatch_rate=args.rate,
        dispatch_seconds=args.seconds,
        lease_seconds=10,
    )
    figures: dict[str, dict[str, list[float]]] = {name: {} for name, _ in [("peer", {}), *args.variants]}
    saved_root = procs.ROOT

    def put(name: str, key: str, value: float | None) -> None:
        if value is not None:
            figures[name].setdefault(key, []).append(value)

    with tempfile.TemporaryDirectory(prefix="onoff-") as tmp:
        h = Harness(base, Path(tmp))
        try:
            for n in range(args.rounds):
                peers: dict[str, float] = {}
                if args.peers and "e2e" in only:
                    peer, why = phases.peer_end_to_end(h, f"pe_{n}")
                    if peer is None:
                        raise SystemExit(f"no peer: {why}")
                    peers["end to end /s"] = peer.end_to_end.per_second
                if args.peers and "drain" in only:
                    rq = phases.rq_peer(h, args.jobs, simple=True)[0]
                    if rq is not None:
                        peers["drain jobs/s"] = rq.per_second
                for key, value in peers.items():
                    put("peer", key, value)
                for name, env in args.variants:
                    env = dict(env)
                    root = env.pop("@root", None)
                    procs.ROOT = Path(root) if root else saved_root
                    h.settings = replace(base, app_env=env)
                    tag = f"{name}_{n}"
                    if "intake" in only:
                        run = phases.intake_alone(h, f"i_{tag}")
                        put(name, "intake req/s", rate(run.count, run.seconds))
                    if "e2e" in only:
                        put(name, "end to end /s", phases.end_to_end(h, f"e_{tag}").per_second)
                    if "dispatch" in only:
                        d = phases.dispatch(h, f"d_{tag}")
                        p50, p99 = phases.latency_summary(d.sink_ms)
                        put(name, "dispatch p50 ms", p50)
                        put(name, "dispatch p99 ms", p99)
                    if "drain" in only:
                        pre = phases.preload(h, f"p_{tag}", args.jobs, args.drain_hooks)
                        put(name, "drain jobs/s", phases.throughput(h, f"p_{tag}", pre.jobs).per_second)
                    for key, value in peers.items():
                        if figures[name].get(key):
                            put(name, f"{key} ÷ peer", figures[name][key][-1] / value)
                    got = {k: round(v[-1], 2) for k, v in figures[name].items()}
                    print(f"round {n + 1} {name}: {got}", flush=True)
                procs.ROOT = saved_root
        finally:
            procs.ROOT = saved_root
            h.close()
    for name in figures:
        for key, values in figures[name].items():
            m = statistics.median(values)
            print(f"{name:>10} {key:>22}: median {m:8.2f}  range {min(values):.2f}–{max(values):.2f}  ({len(values)})")


if __name__ == "__main__":
    main()
