"""The submissions browser on one large form: seeds N submissions straight into a fresh embedded store
(insert_many, not the API), then times the browser's pages and searches through the app (test client, one
request at a time, default settings). Not part of ``make bench``; see bench/README.md "Search at scale".

    .venv/bin/python -m bench.search_scale --submissions 100000 --dir /tmp/scale   # seeds once, then reuses

``--db-timeout-ms`` (60,000 by default here) lets a slow page finish, so each figure is its own: at the app's
default (3,000) the first page that takes longer fails, and with it the next ones.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from bson import ObjectId

from app import create_app
from app.store.embedded import EmbeddedStore

WORDS = [f"{a}{b}" for a in ("ka", "lo", "mi", "ne", "su", "ta", "vo", "ri") for b in range(125)]  # 1,000
SEED_BATCH = 2_000


def _doc(form_id: str, workspace: str | None, i: int, at: dt.datetime) -> dict:
    rnd = random.Random(i)
    return {
        "_id": ObjectId(),
        "form_id": form_id,
        "workspace_id": workspace,
        "data": {
            "email": f"p{i}@example.com",
            "name": " ".join(rnd.choice(WORDS) for _ in range(2)),
            "comment": " ".join(rnd.choice(WORDS) for _ in range(8)),
            "age": rnd.randint(18, 90),
        },
        "revision": 1,
        "deleted": False,
        "created_at": at,
        "updated_at": at,
        "pending_events": [],
        "dispatch_pending": False,
    }


def _seed(app, n: int) -> tuple[str, list[str]]:
    from app.models import Form, Submission, Workspace  # noqa: PLC0415

    with app.app_context():
        workspace = str(Workspace.objects.first().id)  # the first owner's
        form = Form(
            name="Big", workspace_id=workspace, fields=[{"name": k} for k in ("email", "name", "comment", "age")]
        ).save()
        form_id, coll = str(form.id), Submission._get_collection()
        start, ids = dt.datetime(2025, 1, 1), []
        began = time.monotonic()
        for first in range(0, n, SEED_BATCH):
            docs = [
                _doc(form_id, workspace, i, start + dt.timedelta(minutes=i))
                for i in range(first, min(n, first + SEED_BATCH))
            ]
            coll.insert_many(docs)
            ids += [str(d["_id"]) for d in docs]
        print(f"seeded {n:,} submissions in {time.monotonic() - began:.1f} s")
        try:
            from app.models import search_terms  # noqa: PLC0415  (absent before the search index)
        except ImportError:
            return form_id, ids
        began = time.monotonic()
        done = sum(search_terms.reindex_batches())
        print(f"reindex-submissions: {done:,} in {time.monotonic() - began:.1f} s")
    return form_id, ids


def _time(client, label: str, url: str, runs: int) -> None:
    took, statuses = [], set()
    for _ in range(runs):
        began = time.monotonic()
        resp = client.get(url)
        took.append((time.monotonic() - began) * 1000)
        statuses.add(resp.status_code)
    note = " (note shown)" if b"data-search-note" in resp.data else ""
    print(
        f"{label:<34} median {statistics.median(took):7.0f} ms  max {max(took):7.0f} ms  "
        f"status {sorted(statuses)}{note}"
    )


def _export(client, url: str) -> None:
    began = time.monotonic()
    resp = client.get(url, buffered=False)
    first, size, lines = None, 0, 0
    for chunk in resp.response:
        first = first or time.monotonic() - began
        size += len(chunk)
        lines += chunk.count(b"\n")
    took = time.monotonic() - began
    print(
        f"{'CSV export, whole form':<34} first byte {1000 * (first or 0):.0f} ms, {lines - 1:,} rows in "
        f"{took:.1f} s ({(lines - 1) / took:,.0f} rows/s), status {resp.status_code}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submissions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", help="keep the store here (seeded on the first run, reused after)")
    parser.add_argument("--db-timeout-ms", type=int, default=60_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(args.dir or scratch)
        store = EmbeddedStore(tmp / "store").start()
        try:
            app = create_app(
                {
                    "MONGODB_URI": store.uri,
                    "MONGODB_DB": "bench_search",
                    "SECRET_KEY": "bench",
                    "DATA_DIR": str(tmp / "data"),
                    "SCHEDULER_ENABLED": False,
                    "PLUGIN_DISCOVERY": False,
                    "DB_TIMEOUT_MS": args.db_timeout_ms,
                }
            )
            seeded = tmp / "seeded.json"
            if seeded.exists():
                form_id, ids = json.loads(seeded.read_text())
                with app.app_context():
                    try:
                        from app.models import search_terms  # noqa: PLC0415

                        began = time.monotonic()
                        done = sum(search_terms.reindex_batches())
                        print(f"reindex-submissions: {done:,} in {time.monotonic() - began:.1f} s")
                    except ImportError:
                        pass
            else:
                form_id, ids = _seed(app, args.submissions)
                seeded.write_text(json.dumps([form_id, ids]))
            client = app.test_client()
            login = {"email": app.config["ADMIN_EMAIL"], "password": app.config["ADMIN_PASSWORD"]}
            assert client.post("/api/auth/login", json=login).status_code == 200
            url = f"/admin/forms/{form_id}/submissions"
            middle = args.submissions // 2
            day = (dt.datetime(2025, 1, 1) + dt.timedelta(minutes=middle)).date().isoformat()
            rare = _doc(form_id, None, middle, dt.datetime(2025, 1, 1))["data"]["comment"].split()[:2]
            for label, query in (
                ("first page", ""),
                ("page 100 (?page=100)", "?page=100"),
                ("id lookup", f"?q={ids[middle]}"),
                ("e-mail lookup", f"?q=p{middle}@example.com"),
                ("word search (one word)", f"?q={rare[0]}"),
                ("word search (two words)", f"?q={rare[0]}+{rare[1]}"),
                ("word search, no match", "?q=zzzz"),
                ("two words, no row has both", f"?q={WORDS[0]}+{WORDS[1]}"),
                ("date filter (one day)", f"?from={day}&to={day}"),
                ("field filter (name)", f"?field=name&value={rare[0]}"),
                ("field filter, no match", "?field=name&value=zzzz"),
            ):
                _time(client, label, url + query, args.runs)
            page = client.get(url).text
            key = page.split('rel="next"', 1)[0].rsplit("after=", 1)[-1].split("&", 1)[0].split('"', 1)[0]
            if 'rel="next"' in page and key.isalnum():  # (absent before the index: no keys)
                deep = ids[len(ids) - 1_000 * 25]  # the last row of page 1,000, newest first
                with app.app_context():
                    from app.models import Submission  # noqa: PLC0415

                    deep_key = Submission._get_collection().find_one({"_id": ObjectId(deep)})["sort_key"]
                _time(client, "next page by key (page 1,001)", url + f"?page=1001&after={deep_key}", args.runs)
            _export(client, f"/admin/submissions/export.csv?form_id={form_id}")
        finally:
            store.stop()


if __name__ == "__main__":
    main()
