"""``make bench``: ``python -m bench [--quick] [flags]``; see bench/README.md."""

from __future__ import annotations

import sys
import time

from bench.run import run_bench
from bench.settings import parse


def main(argv: list[str] | None = None) -> int:
    settings = parse(argv)
    print(
        f"Formhooks bench: {settings.jobs:,} jobs per run, {settings.history:,} in history, "
        f"{settings.web_workers} gunicorn workers, LEASE_SECONDS={settings.lease_seconds:g}",
        flush=True,
    )
    started = time.monotonic()
    report = run_bench(settings)
    report.notes.append(f"whole bench: {time.monotonic() - started:.0f} s")
    print()
    print(report.table())
    report.write(settings.out)
    print(f"\nwritten to {settings.out}")
    return 1 if any(" failed: " in n for n in report.notes) else 0


if __name__ == "__main__":
    sys.exit(main())
