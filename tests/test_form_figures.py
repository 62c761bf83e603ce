"""The indexer writes search postings and form figures after the 202 (app.engine.indexer); the results
summary reads the figures (app.admin.results_summary). Searches find what the indexer has not reached yet;
no submission is skipped or counted twice, whatever the order of ids, concurrent passes or a pass that
stopped half-way; edits and deletes adjust the figures."""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import threading
from collections import Counter

import pytest
import requests
from bson import ObjectId

from app.admin import results_summary, submission_search
from app.engine import indexer, retention
from app.models import Submission, SubmissionTerm, search_terms, utcnow
from app.models import figures as fig
from app.models.figures import FormFigures
from tests.admin_api.conftest import People
from tests.admin_ui.conftest import owner_client
from tests.admin_ui.test_submissions_browser import _listed
from tests.support.procs import AppProcess, admin_session, app_env
from tests.support.wait import wait_until

FIELDS = [
    {"name": "colour", "label": "Favourite colour", "type": "select", "options": ["red", "green", "blue"]},
    {"name": "agree", "type": "checkbox"},
    {"name": "age", "label": "Age", "type": "number"},
    {"name": "score", "type": "number"},
    {"name": "city", "label": "City", "type": "text"},
    {"name": "note", "type": "textarea"},
]
CITIES = ["Lyon", "Oslo", "Zoë's town", "a.b$c", "Kyoto"]
DAY0 = dt.datetime(2026, 3, 1, 9, 30)


def _row(rng: random.Random) -> dict:
    row = {
        "colour": rng.choice(["red", "green", "blue", None]),
        "agree": rng.choice([True, False, None]),
        "age": rng.choice([rng.randint(0, 99), None]),
        "score": round(rng.uniform(-5, 5000), 2),
        "city": rng.choice([*CITIES, None]),
        "note": rng.choice(["", "ok", None]),
    }
    return {k: v for k, v in row.items() if v is not None}


def _oid(at: dt.datetime) -> ObjectId:
    """An ObjectId of time ``at`` made by "another process" (a random rest, as ObjectIds of others are)."""
    return ObjectId(int(at.replace(tzinfo=dt.UTC).timestamp()).to_bytes(4, "big") + os.urandom(8))


def _accept(app, form: dict, rows: list[tuple[dict, dt.datetime]], oids: list[ObjectId] | None = None) -> list:
    """Submissions written as the intake writes them (flagged for the indexer, no postings)."""
    docs = []
    for i, (data, at) in enumerate(rows):
        oid = oids[i] if oids else _oid(at)
        doc = {
            "_id": oid,
            "form_id": form["id"],
            "workspace_id": form["workspace_id"],
            "data": data,
            "revision": 1,
            "deleted": False,
            "created_at": at,
            "updated_at": at,
            indexer.PENDING: indexer.NEW,
        }
        docs.append({**doc, **search_terms.search_fields(doc)})
    with app.app_context():
        Submission._get_collection().insert_many(docs)
    return [d["_id"] for d in docs]


def _expected(docs: list[dict]) -> dict:
    """The summary computed the plain way: every submission read."""
    live = [d for d in docs if not d.get("deleted")]
    data = [d["data"] for d in live]
    ages = sorted(x["age"] for x in data if "age" in x)
    scores = sorted(x["score"] for x in data if "score" in x)
    cities = Counter(x["city"] for x in data if x.get("city"))
    return {
        "days": Counter(d["created_at"].date().isoformat() for d in live),
        "colour": {o: sum(1 for x in data if x.get("colour") == o) for o in ("red", "green", "blue")},
        "agree": {"yes": sum(1 for x in data if x.get("agree") is True), "no": sum(1 for x in data if x.get("agree") is False)},
        "age": (len(ages), ages[0], ages[-1], ages[len(ages) // 2], statistics.fmean(ages)),
        "score": (len(scores), scores[0], scores[-1], scores[len(scores) // 2]),  # (the upper of two middles)
        "city": (sum(cities.values()), dict(cities)),
        "note_filled": sum(1 for x in data if x.get("note")),
    }


def _check(summary: dict, docs: list[dict]) -> None:
    want = _expected(docs)
    got_days = {d["day"]: d["count"] for d in summary["days"] if d["count"]}
    assert got_days == dict(want["days"])
    assert summary["total"] == sum(want["days"].values())
    fields = {f["name"]: f for f in summary["fields"]}
    assert {o["value"]: o["count"] for o in fields["colour"]["options"]} == want["colour"]
    assert {o["value"]: o["count"] for o in fields["agree"]["options"]} == want["agree"]
    count, lo, hi, median, mean = want["age"]
    age = fields["age"]["numbers"]
    assert (age["count"], age["min"], age["max"], age["median_approx"]) == (count, lo, hi, median)  # (2 digits: exact)
    assert age["mean"] == pytest.approx(mean)
    assert sum(b["count"] for b in age["histogram"]) == count
    count, lo, hi, median = want["score"]
    score = fields["score"]["numbers"]
    assert (score["count"], score["min"], score["max"]) == (count, lo, hi)
    assert score["median_approx"] == pytest.approx(median, rel=0.05, abs=0.05)  # buckets of two significant digits
    filled, cities = want["city"]
    assert fields["city"]["filled"] == filled and fields["city"]["other"] == 0
    assert {t["value"]: t["count"] for t in fields["city"]["top"]} == cities
    assert fields["note"]["filled"] == want["note_filled"]


def _summary(api, form: dict, start: str = "2026-03-01", end: str = "2026-03-31") -> dict:
    resp = api.get(f"/api/forms/{form['id']}/summary?from={start}&to={end}")
    assert resp.status_code == 200, resp.json
    return resp.json


def _docs(app, form: dict) -> list[dict]:
    with app.app_context():
        return list(Submission._get_collection().find({"form_id": form["id"]}))


def _drain(app) -> int:
    with app.app_context():
        return indexer.drain(stale_after=0.0)


def test_a_submission_is_found_by_its_words_right_after_its_202_and_after_the_indexers_pass(app, api):
    owner = owner_client(app)
    form = api.create_form("People", FIELDS)
    url = f"/admin/forms/{form['id']}/submissions"
    ids = [api.submit(form["id"], {"city": f"Grace Hopper {i}", "colour": "red"})["id"] for i in range(3)]
    with app.app_context():
        assert not SubmissionTerm._get_collection().find_one({"key": f"{form['id']} hopper"})  # (not in the 202's write)
    for words in ("hopper", "grace+hopper+1", "HOPPER+2"):
        assert set(_listed(owner, f"{url}?q={words}")) <= set(ids) and _listed(owner, f"{url}?q={words}"), words
    assert _listed(owner, f"{url}?q=hopper") == ids[::-1]
    assert _listed(owner, f"{url}?q=hopper&sort=oldest") == ids
    assert _listed(owner, f"{url}?field=city&value=hopper+0") == [ids[0]]
    assert _listed(owner, f"{url}?q=nobody") == []

    assert _drain(app) == 3
    with app.app_context():
        assert len(list(SubmissionTerm._get_collection().find({"key": f"{form['id']} hopper"}))) == 3
        assert not list(Submission._get_collection().find({indexer.PENDING: {"$eq": indexer.NEW}}))
    assert _listed(owner, f"{url}?q=hopper") == ids[::-1]
    assert _listed(owner, f"{url}?q=grace+hopper+1") == [ids[1]]


def test_the_summary_equals_a_plain_count_of_a_seeded_form_across_days(app, api):
    form = api.create_form("Survey", FIELDS)
    rng = random.Random(7)
    rows = [(_row(rng), DAY0 + dt.timedelta(hours=7 * i)) for i in range(150)]  # 150 over ~44 days
    _accept(app, form, rows[:-5])
    for data, _ in rows[-5:]:  # and some through the intake (today, outside March)
        assert api.post(f"/api/forms/{form['id']}/submissions", {"data": data}).status_code == 202
    assert _drain(app) == 150
    march = [d for d in _docs(app, form) if d["created_at"].month == 3]
    _check(_summary(api, form), march)
    # A second range sums other days; a range with nothing has zeros.
    april = [d for d in _docs(app, form) if d["created_at"].month == 4 and d["created_at"].year == 2026]
    _check(_summary(api, form, "2026-04-01", "2026-04-30"), april)
    empty = _summary(api, form, "2025-01-01", "2025-01-03")
    assert empty["total"] == 0 and len(empty["days"]) == 3
    today = utcnow().date().isoformat()
    assert _summary(api, form, today, today)["total"] == 5


def test_out_of_order_ids_from_other_processes_are_none_skipped(app, api):
    """Process B's submissions carry ids (and times) older than ones the indexer already did: a mark on
    ``_id`` or ``sort_key`` would pass them by; the flag does not."""
    form = api.create_form("Race", FIELDS)
    rng = random.Random(3)
    late = DAY0 + dt.timedelta(minutes=10)
    first = _accept(app, form, [(_row(rng), late) for _ in range(30)])
    assert _drain(app) == 30
    # Stored after that pass, but made earlier (another process's clock, a slow write): lower ids and keys.
    earlier = [DAY0 + dt.timedelta(seconds=s) for s in range(30)]
    second = _accept(app, form, [(_row(rng), at) for at in earlier])
    assert max(second) < min(first)
    assert _drain(app) == 30
    docs = _docs(app, form)
    assert all(indexer.PENDING not in d and d[indexer.BASIS]["day"] == "2026-03-01" for d in docs)
    _check(_summary(api, form, "2026-03-01", "2026-03-01"), docs)
    with app.app_context():
        posted = {search_terms.submission_of(p) for p in SubmissionTerm._get_collection().find({})}
    assert posted >= set(first) | set(second)


def test_concurrent_passes_count_each_submission_once(app, api):
    form = api.create_form("Busy", FIELDS)
    rng = random.Random(11)
    _accept(app, form, [(_row(rng), DAY0 + dt.timedelta(seconds=i)) for i in range(420)])
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with app.app_context():
                while indexer.run_pass() or indexer._due():
                    pass
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and not any(t.is_alive() for t in threads)
    _drain(app)
    _check(_summary(api, form, "2026-03-01", "2026-03-01"), _docs(app, form))


def test_a_pass_that_stopped_after_writing_figures_is_finished_once(app, api, monkeypatch):
    form = api.create_form("Crash", FIELDS)
    rng = random.Random(5)
    _accept(app, form, [(_row(rng), DAY0) for _ in range(40)])
    apply = indexer._apply

    def apply_then_die(seq, changes):
        apply(seq, changes)
        raise RuntimeError("the process died")

    monkeypatch.setattr(indexer, "_apply", apply_then_die)
    with app.app_context(), pytest.raises(RuntimeError):
        indexer.run_batch()
    monkeypatch.setattr(indexer, "_apply", apply)
    with app.app_context():
        assert indexer.run_batch() == 0  # a fresh journal: its pass may still be at it
        assert indexer.run_batch(stale_after=0.0) == 40  # an old one: finished (figures already there skipped)
    assert _drain(app) == 0
    _check(_summary(api, form, "2026-03-01", "2026-03-01"), _docs(app, form))


def test_edits_and_deletes_adjust_the_figures_even_while_the_indexer_is_at_it(app, api, monkeypatch):
    form = api.create_form("Edits", FIELDS)
    rng = random.Random(9)
    ids = [str(i) for i in _accept(app, form, [(_row(rng), DAY0) for _ in range(20)])]
    api.patch(f"/api/submissions/{ids[0]}", {"data": {"colour": "blue", "city": "Oslo", "age": 50}})  # before its pass
    api.delete(f"/api/submissions/{ids[1]}")
    assert _drain(app) == 20
    _check(_summary(api, form, "2026-03-01", "2026-03-01"), _docs(app, form))

    for i in range(2, 6):
        assert api.patch(f"/api/submissions/{ids[i]}", {"data": {"colour": "green", "age": i}}).status_code == 200
    assert api.delete(f"/api/submissions/{ids[6]}").status_code == 200
    entries = indexer._entries

    def edit_meanwhile(docs):  # the indexer read these; an edit lands before it finishes
        found = entries(docs)
        resp = api.patch(f"/api/submissions/{ids[2]}", {"data": {"colour": "red", "city": "Kyoto", "score": 1.5}})
        assert resp.status_code == 200
        return found

    monkeypatch.setattr(indexer, "_entries", edit_meanwhile)
    with app.app_context():
        indexer.run_batch()
    monkeypatch.setattr(indexer, "_entries", entries)
    _drain(app)
    docs = _docs(app, form)
    assert next(d for d in docs if str(d["_id"]) == ids[2])["data"]["city"] == "Kyoto"
    _check(_summary(api, form, "2026-03-01", "2026-03-01"), docs)


def test_text_values_past_the_distinct_limit_count_as_other_and_come_back_out_exactly(app, api, monkeypatch):
    monkeypatch.setattr("app.models.figures.TOP_VALUES", 3)
    form = api.create_form("Many", [{"name": "city", "type": "text"}])
    ids = [str(i) for i in _accept(app, form, [({"city": f"c{i % 5}"}, DAY0) for i in range(10)])]
    _drain(app)
    city = _summary(api, form)["fields"][0]
    assert city["filled"] == 10 and sum(t["count"] for t in city["top"]) + city["other"] == 10
    assert city["other"] == 4  # c3 and c4 came once there was no room
    for sub_id in ids:
        api.delete(f"/api/submissions/{sub_id}")
    _drain(app)
    city = _summary(api, form)["fields"][0]
    assert (city["filled"], city["other"], city["top"]) == (0, 0, [])


def test_reindex_submissions_counts_submissions_stored_before_the_figures(app, api):
    form = api.create_form("Old", FIELDS)
    rng = random.Random(1)
    ids = _accept(app, form, [(_row(rng), DAY0 + dt.timedelta(days=i % 3)) for i in range(25)])
    with app.app_context():  # stored before the indexer existed: no flag, no basis
        Submission._get_collection().update_many({"_id": {"$in": ids}}, {"$unset": {indexer.PENDING: ""}})
    assert _summary(api, form)["total"] == 0
    result = app.test_cli_runner().invoke(args=["reindex-submissions"])
    assert result.exit_code == 0, result.output
    assert "25 submissions not yet counted" in result.output
    _check(_summary(api, form), _docs(app, form))
    again = app.test_cli_runner().invoke(args=["reindex-submissions"])
    assert "0 submissions not yet counted" in again.output
    _check(_summary(api, form), _docs(app, form))


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-02-30",
        "to=yesterday",
        "from=2026-03-02&to=2026-03-01",
        "from=2000-01-01&to=2026-01-01",
        "to=0001-01-05",
        "from=9999-12-01&to=9999-12-31",
        "from=1969-12-31&to=1970-01-02",
    ],
)
def test_a_bad_range_is_a_422_that_says_why(app, api, query):
    form = api.create_form("Range", FIELDS)
    resp = api.get(f"/api/forms/{form['id']}/summary?{query}")
    assert resp.status_code == 422 and resp.json["error"]["details"], resp.json
    page = owner_client(app).get(f"/admin/forms/{form['id']}/summary?{query}")
    assert page.status_code == 200 and "data-range-error" in page.text


def test_a_viewer_reads_the_summary_and_another_workspace_gets_404(app, api):
    people = People(app)
    form = api.create_form("Scoped", FIELDS)
    _accept(app, form, [({"colour": "red"}, DAY0)])
    _drain(app)
    viewer = people.member("viewer@example.com", {form["workspace_id"]: "viewer"})
    outsider = people.member("out@example.com", {people.workspace("Other"): "owner"})
    assert viewer.api.get(f"/api/forms/{form['id']}/summary?from=2026-03-01&to=2026-03-01").json["total"] == 1
    resp = outsider.api.get(f"/api/forms/{form['id']}/summary")
    assert resp.status_code == 404 and "red" not in resp.text
    page = owner_client(app).get(f"/admin/forms/{form['id']}/summary?from=2026-03-01&to=2026-03-01")
    assert page.status_code == 200 and "Favourite colour" in page.text and 'data-summary-total>1<' in page.text
    assert f"/admin/forms/{form['id']}/summary" in owner_client(app).get(f"/admin/forms/{form['id']}").text
    assert api.delete(f"/api/forms/{form['id']}").status_code == 204
    with app.app_context():
        retention.run_pass(batch=10, share=1.0, seconds=30)  # (a deleted form's data goes in the background)
        assert FormFigures.objects(form_id=form["id"]).count() == 0  # (its figures go with it)


def test_a_range_reads_whole_months_and_at_most_two_runs_of_days_and_sums_them_right(app, api):
    form = api.create_form("Dense", FIELDS)
    rng = random.Random(2)
    _accept(app, form, [(_row(rng), DAY0 + dt.timedelta(hours=5 * i)) for i in range(400)])  # ~83 days
    _drain(app)
    with app.app_context():
        assert FormFigures.objects(form_id=form["id"], span="month").count() == 3  # March to May
    docs = _docs(app, form)
    for start, end in [("2026-03-15", "2026-04-10"), ("2026-03-01", "2026-05-31"), ("2026-02-20", "2026-05-02")]:
        inside = [d for d in docs if start <= d["created_at"].date().isoformat() <= end]
        _check(_summary(api, form, start, end), inside)
    months, days = results_summary._split(dt.date(2025, 1, 15), dt.date(2026, 1, 14))
    assert (len(months), days) == (11, [("2025-01-15", "2025-01-31"), ("2026-01-01", "2026-01-14")])
    assert results_summary._split(dt.date(2024, 2, 1), dt.date(2024, 2, 29)) == (["2024-02"], [])
    assert results_summary._split(dt.date(2024, 2, 3), dt.date(2024, 2, 5)) == ([], [("2024-02-03", "2024-02-05")])

def test_two_processes_accepting_at_once_with_their_indexers_count_every_submission_once(
    make_app, store_uri, db_name, tmp_path
):
    env = app_env(store_uri, db_name, tmp_path, SUBMIT_RATE_LIMIT="", INDEX_INTERVAL="0.2")
    procs = [AppProcess(env, tmp_path / f"app{i}.log") for i in range(2)]
    try:
        s = admin_session()
        form = s.post(procs[0].url + "/api/forms", json={"name": "Both", "fields": FIELDS}).json()
        rows = [_row(random.Random(n)) for n in range(160)]
        accepted: list[str] = []

        def submit(url: str, part: list[dict]) -> None:
            with requests.Session() as http:
                for data in part:
                    resp = http.post(f"{url}/api/forms/{form['id']}/submissions", json={"data": data}, timeout=30)
                    assert resp.status_code == 202, resp.text
                    accepted.append(resp.json()["id"])

        threads = [threading.Thread(target=submit, args=(p.url, rows[i::4])) for i, p in enumerate(procs * 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert len(accepted) == len(rows)
        today = utcnow().date().isoformat()
        path = f"/api/forms/{form['id']}/summary?from={today}&to={today}"
        wait_until(lambda: s.get(procs[1].url + path).json()["total"] == len(rows), what="every submission counted")
        app = make_app()
        wait_until(lambda: not _docs(app, form) or all(indexer.PENDING not in d for d in _docs(app, form)), what="flags cleared")
        _check(s.get(procs[1].url + path).json(), _docs(app, form))
        with app.app_context():
            posted = {str(search_terms.submission_of(p)) for p in SubmissionTerm._get_collection().find({})}
        assert posted >= set(accepted) - {str(d["_id"]) for d in _docs(app, form) if not d["data"]}
    finally:
        for p in procs:
            p.stop()


def test_a_pass_that_stalled_past_its_journal_does_not_undo_a_later_batch(app, api, monkeypatch):
    form = api.create_form("Stall", FIELDS)
    (sub_id,) = _accept(app, form, [({"colour": "red"}, DAY0)])
    stalled = {}
    finish = indexer._finish

    def stall(journal):  # the pass stops before finishing: another takes over, and a later batch runs
        stalled["journal"] = journal
        raise RuntimeError("stalled")

    monkeypatch.setattr(indexer, "_finish", stall)
    with app.app_context(), pytest.raises(RuntimeError):
        indexer.run_batch()
    monkeypatch.setattr(indexer, "_finish", finish)
    assert _drain(app) == 1
    api.patch(f"/api/submissions/{sub_id}", {"data": {"colour": "blue"}})
    assert _drain(app) == 1
    with app.app_context():
        finish(stalled["journal"])  # the stalled pass wakes up and writes what it had
    api.patch(f"/api/submissions/{sub_id}", {"data": {"colour": "green"}})
    _drain(app)
    colour = _summary(api, form)["fields"][0]
    assert {o["value"]: o["count"] for o in colour["options"]} == {"red": 0, "green": 1, "blue": 0}


def test_a_search_says_so_when_more_submissions_wait_for_the_indexer_than_it_reads(app, api, monkeypatch):
    monkeypatch.setattr(submission_search, "TAIL_LIMIT", 5)
    owner = owner_client(app)
    form = api.create_form("Backlog", FIELDS)
    ids = _accept(app, form, [({"city": f"Lyon {i}"}, DAY0 + dt.timedelta(minutes=i)) for i in range(8)])
    url = f"/admin/forms/{form['id']}/submissions?q=lyon"
    page = owner.get(url).text
    assert "still being added to the search index" in page
    assert 0 < len(_listed(owner, url)) <= 5
    _drain(app)
    page = owner.get(url).text
    assert "still being added" not in page and set(_listed(owner, url)) == {str(i) for i in ids}


def test_figures_tallied_in_one_go_equal_the_indexers(app, api):
    form = api.create_form("Seeded", FIELDS)
    rng = random.Random(4)
    _accept(app, form, [(_row(rng), DAY0 + dt.timedelta(hours=9 * i)) for i in range(120)])
    _drain(app)
    with app.app_context():
        kept = {d["_id"]: {**d, "seq": 0} for d in FormFigures._get_collection().find({"form_id": form["id"]})}
    tallied = {d["_id"]: d for d in fig.tally(form["id"], FIELDS, _docs(app, form))}
    assert kept.keys() == tallied.keys() and len(kept) > 40
    for figures_id, doc in tallied.items():
        assert _close(doc, kept[figures_id]), figures_id


def _close(a, b) -> bool:
    """Equal, floats to rounding (sums added in another order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b)
    return a == b
