"""The results summary of one form holding N submissions (issue 23: 500,000), timed over HTTP on `make run`'s
settings. The summary reads only the form's figures (app.models.figures), so only they are written: what the
indexer would have written for N submissions of the scale run (bench.scale.person, spread over two years),
tallied in one go (``figures.tally``), without the submissions themselves.

    python -m bench.summary_scale [N]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.models import figures as fig
from app.models import utcnow
from bench.harness import Harness
from bench.scale import FIELDS, SPAN, _session, person, timed
from bench.settings import BenchSettings

DB = "bench_summary_scale"


def _docs(n: int) -> Iterator[dict[str, Any]]:
    start, step = utcnow() - SPAN, SPAN / max(n, 1)
    for i in range(n):
        yield {"data": person(i), "created_at": start + step * i, "deleted": False}


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 500_000
    with tempfile.TemporaryDirectory() as work:
        h = Harness(BenchSettings(), Path(work))
        try:
            app = h.start_app(DB, scheduler=True)
            admin = h.admin(app)
            form_id = admin._post("/api/forms", {"name": "Big form", "fields": FIELDS})["id"]
            admin.close()
            began = time.monotonic()
            docs = fig.tally(form_id, FIELDS, _docs(n))
            tallied = time.monotonic() - began
            h.mongo[DB][fig.FormFigures._meta["collection"]].insert_many(docs)
            today = utcnow().date()
            ranges = {
                "default (30 days)": "",
                "last year": f"?from={today - dt.timedelta(days=364)}&to={today}",
                "three years": f"?from={today - dt.timedelta(days=1094)}&to={today}",
            }
            http = _session()
            url = f"{app.url}/admin/forms/{form_id}/summary"
            got: dict[str, Any] = {"submissions": n, "figures_docs": len(docs), "tally_s": round(tallied, 1)}
            for label, query in ranges.items():
                first = http.get(url + query, timeout=60)  # (a first read warms the process)
                got[label] = timed(http, url + query, 20)
            api = f"{app.url}/api/forms/{form_id}/summary?from={today - dt.timedelta(days=364)}&to={today}"
            http.get(api, timeout=60)
            got["last year, JSON API"] = timed(http, api, 20)  # (the same figures, no charts rendered)
            got["three years shows the total"] = (
                f"data-summary-total>{n}<" in first.text
            )  # (the last range read: all of them)
            got["load"] = [round(x, 1) for x in os.getloadavg()]
            http.close()
            print(json.dumps(got), flush=True)
        finally:
            h.close()


if __name__ == "__main__":
    main(sys.argv[1:])
