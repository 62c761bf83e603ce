"""Engine mechanisms measured on and off, interleaved (base, variant, base, variant, …) on one store.

Each variant is ``name:NAME=VALUE[,NAME=VALUE]`` (app settings for every app of that variant). Per round and
variant: intake alone (req/s), end to end (submissions/s, post → last delivery), dispatch latency (p50, p99
at ``--rate``/s) and a drain of a backlog written by another process (jobs/s). Reports medians and ranges.

    python -m bench.onoff --rounds 3 base: nocache:FORM_CACHE_SECONDS=0

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

from bench import phases
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
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    base = BenchSettings(
        install_redis=False,
        e2e_submissions=args.submissions,
        dispatch_rate=args.rate,
        dispatch_seconds=args.seconds,
        lease_seconds=10,
    )
    figures: dict[str, dict[str, list[float]]] = {name: {} for name, _ in args.variants}

    def put(name: str, key: str, value: float | None) -> None:
        if value is not None:
            figures[name].setdefault(key, []).append(value)

    with tempfile.TemporaryDirectory(prefix="onoff-") as tmp:
        h = Harness(base, Path(tmp))
        try:
            for n in range(args.rounds):
                for name, env in args.variants:
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
                        pre = phases.preload(h, f"p_{tag}", args.jobs, 1)
                        put(name, "drain jobs/s", phases.throughput(h, f"p_{tag}", pre.jobs).per_second)
                    got = {k: round(v[-1], 1) for k, v in figures[name].items()}
                    print(f"round {n + 1} {name}: {got}", flush=True)
        finally:
            h.close()
    for name, _ in args.variants:
        for key, values in figures[name].items():
            m = statistics.median(values)
            print(f"{name:>10} {key:>16}: median {m:8.1f}  range {min(values):.1f}–{max(values):.1f}  ({len(values)})")


if __name__ == "__main__":
    main()
