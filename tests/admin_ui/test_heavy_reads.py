"""Heavy admin reads (searches and filters that test candidates, exports) take turns per workspace, keep to
their share of the time, and read the store in bounded batches (app/admin/read_gate.py, issue 20)."""

from __future__ import annotations

import datetime as dt
import time
from types import SimpleNamespace

import pytest
from pymongo.collection import Collection

from app.admin import export
from app.admin.submission_search import BATCH, Filters, matching
from tests.admin_ui.conftest import owner_client
from tests.admin_ui.test_submissions_browser import FIELDS, _listed, _seed
from tests.conftest import PATIENT_STORE, Api
from tests.support.wait import wait_until

START = dt.datetime(2026, 2, 1, 9)
DEADLINE_MS = 3000  # the default DB_TIMEOUT_MS
HEAVY = [  # a second heavy read of the same workspace, by kind
    "/admin/forms/{form}/submissions?q=ada",
    "/admin/forms/{form}/submissions?field=name&value=common1",
    "/admin/forms/{form}/submissions?sort=age:asc",
    "/admin/submissions/export.csv?form_id={form}",
    "/admin/submissions/export.json?form_id={form}",
    "/admin/executions?q=ada",
]


def _people(app, form: dict, n: int, indexed: bool = True, same_time: int = 1) -> list[str]:
    rows = [
        (
            {"email": f"person{i}@example.com", "name": f"Ada Common{i % 2}", "age": i},
            START + dt.timedelta(minutes=i // same_time),
        )
        for i in range(n)
    ]
    return _seed(app, form, rows, indexed)


@pytest.fixture
def gated(make_app):
    app = make_app(HEAVY_READ_WAIT=0.2)
    api = Api(app.test_client())
    form = api.create_form("People", FIELDS)
    _people(app, form, 300)
    return app, api, form


def _held_export(client, form: dict):
    """An export whose body nobody has read yet: it holds its workspace's turn until it is closed."""
    resp = client.get(f"/admin/submissions/export.csv?form_id={form['id']}", buffered=False)
    assert resp.status_code == 200
    return resp


@pytest.mark.parametrize("url", HEAVY)
def test_a_second_heavy_read_of_one_workspace_waits_for_the_first_then_is_told_to_retry(gated, url):
    app, _, form = gated
    owner = owner_client(app)
    first = _held_export(owner, form)
    busy = owner.get(url.format(form=form["id"]))
    assert busy.status_code == 429 and busy.headers["Retry-After"] == "2"
    assert "try again" in busy.get_data(as_text=True)
    first.close()  # the first one ends: the turn is free again
    again = owner.get(url.format(form=form["id"]))
    assert again.status_code == 200
    again.close()


def test_an_export_gives_its_turn_back_when_read_to_the_end_or_dropped(gated):
    app, _, form = gated
    owner = owner_client(app)
    whole = owner.get(f"/admin/submissions/export.json?form_id={form['id']}")
    assert whole.status_code == 200 and whole.get_data(as_text=True).count('"form_id"') == 300
    dropped = _held_export(owner, form)
    next(dropped.response)  # the header, then the reader goes away
    dropped.close()
    assert owner.get(f"/admin/forms/{form['id']}/submissions?q=ada").status_code == 200


@pytest.mark.parametrize("url", ["/admin/forms/{form}/submissions", "/admin/forms/{form}/submissions?page=2"])
def test_a_plain_page_is_not_a_heavy_read_and_never_waits(gated, url):
    app, _, form = gated
    owner = owner_client(app)
    held = _held_export(owner, form)
    assert owner.get(url.format(form=form["id"])).status_code == 200
    held.close()


def test_another_workspace_reads_and_delivers_while_one_workspace_holds_its_turn(make_app, sink):
    app = make_app(HEAVY_READ_WAIT=0.2, SCHEDULER_ENABLED=True, POLL_INTERVAL=0.05)
    api = Api(app.test_client())
    a = api.create_form("A", FIELDS)
    _people(app, a, 300)
    other = api.post("/api/workspaces", json={"name": "B"}).json["id"]
    b = api.post("/api/forms", json={"name": "B", "fields": FIELDS, "workspace_id": other}).json
    hook = api.add_plugin(b["id"], "webhook", {"url": sink.url})
    _people(app, b, 30)
    owner = owner_client(app)
    held = _held_export(owner, a)
    try:
        for url in HEAVY[:5]:
            resp = owner.get(url.format(form=b["id"]))
            assert resp.status_code == 200, url
            resp.close()
        submitted = api.submit(b["id"], {"email": "new@example.com", "name": "New", "age": 1})
        job = submitted["jobs"][0]
        wait_until(lambda: api.job(job)["status"] == "completed", what="B's delivery")
        assert api.job(job)["config_id"] == hook["id"]
    finally:
        held.close()


@pytest.mark.parametrize(
    ("url", "share", "rests"),
    [
        ("/admin/forms/{form}/submissions?field=name&value=ada", 0.5, True),  # 450 candidates, none match
        ("/admin/submissions/export.csv?form_id={form}", 0.5, True),
        ("/admin/submissions/export.json?form_id={form}&q=grace", 0.25, True),  # 450 matches
        ("/admin/forms/{form}/submissions?field=name&value=ada", 1.0, False),  # a share of 1: never rests
        ("/admin/forms/{form}/submissions", 0.5, False),  # a plain page: one batch
    ],
)
def test_heavy_reads_rest_in_proportion_while_others_wait_for_the_cores(
    make_app, monkeypatch, url, share, rests
):
    app = make_app(EXPORT_SHARE=share)
    api = Api(app.test_client())
    form = api.create_form("People", [*FIELDS, {"name": "note"}])
    rows = [
        ({"note": f"ada {i}", "name": "Grace", "age": i}, START + dt.timedelta(minutes=i)) for i in range(450)
    ]
    _seed(app, form, rows)
    slept: list[float] = []
    monkeypatch.setattr(export, "cpus_contended", lambda: True)  # (whatever else runs on this machine)
    monkeypatch.setattr(export, "time", SimpleNamespace(monotonic=time.monotonic, sleep=slept.append))
    resp = owner_client(app).get(url.format(form=form["id"]))
    assert resp.status_code == 200
    resp.get_data()
    assert bool(slept) is rests


@pytest.mark.parametrize(("n", "same_time"), [(450, 1), (450, 7), (230, 230), (401, 200)])
def test_unindexed_forms_are_read_in_bounded_batches_each_row_once(make_app, monkeypatch, n, same_time):
    app = make_app(**PATIENT_STORE)
    api = Api(app.test_client())
    # stored before the search index (no sort_key): read by time, where times repeat
    form = api.create_form("Old", FIELDS)
    ids = _people(app, form, n, indexed=False, same_time=same_time)
    limits: list[int] = []
    find = Collection.find

    def recording(self, *args, **kwargs):
        if self.name == "submissions" and "limit" in kwargs:
            limits.append(kwargs["limit"])
        return find(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "find", recording)
    with app.app_context():
        read = [str(d["_id"]) for d in matching(Filters(), [form["id"]])]
    assert read[0] in ids[-same_time:] and read[-1] in ids[:same_time]  # newest first (ties in any order)
    assert len(read) == len(set(read)) == n
    assert limits and all(0 < limit <= BATCH for limit in limits)  # never the whole form at once
    owner = owner_client(app)
    assert len(_listed(owner, f"/admin/forms/{form['id']}/submissions?q=ada")) == 25


@pytest.mark.parametrize(
    "url",
    [
        "/admin/forms/{form}/submissions?field=name&value=ada",
        "/admin/forms/{form}/submissions?q=ada+649",  # (two words: the candidates of one checked for the other)
        "/admin/executions?q=ada+grace",
    ],
)
def test_a_heavy_read_that_rests_longer_than_the_store_deadline_still_answers(make_app, monkeypatch, url):
    # the request's store deadline (DB_TIMEOUT_MS) is for the store's time: rests and waits are not
    # (the default deadline, which a loaded machine's store meets; the first rest alone outlasts it)
    app = make_app(DB_TIMEOUT_MS=DEADLINE_MS, EXPORT_SHARE=0.5)
    api = Api(app.test_client())
    form = api.create_form("People", [*FIELDS, {"name": "note"}])
    rows = [
        ({"note": f"ada {i}", "name": "Grace", "age": i}, START + dt.timedelta(minutes=i)) for i in range(650)
    ]
    _seed(app, form, rows)
    monkeypatch.setattr(export, "cpus_contended", lambda: True)
    rests: list[float] = []

    def rest(seconds: float) -> None:
        longer = not rests  # (one rest past the deadline is the case; more would only make the test longer)
        rests.append(seconds)
        if longer:
            time.sleep(DEADLINE_MS / 1000 + 0.1)

    monkeypatch.setattr(export, "time", SimpleNamespace(monotonic=time.monotonic, sleep=rest))
    resp = owner_client(app).get(url.format(form=form["id"]))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert rests  # it did rest past the deadline
