"""Exports: the first rows leave before anything is counted; CSV for Excel (BOM), JSON lines, times in
UTC or the viewer's zone."""

from __future__ import annotations

import csv
import datetime as dt
import heapq
import io
import json
import threading
import tracemalloc

import pytest
from pymongo.collection import Collection

from app.admin import export
from app.contract.testing import Reply
from tests.admin_ui.test_submissions_browser import FIELDS, _seed
from tests.support.wait import wait_until

NOON = dt.datetime(2026, 1, 1, 12)
PEOPLE = [
    {"email": "zoe@example.com", "name": "Zoë", "age": 30},
    {"email": "misaki@example.com", "name": "美咲", "age": 41},
    {"email": "multi@example.com", "name": 'two\nlines, a "quote"', "age": 52},
]


@pytest.fixture
def people(app, api):
    form = api.create_form("People", FIELDS)
    _seed(app, form, [(p, NOON + dt.timedelta(minutes=i)) for i, p in enumerate(PEOPLE)])
    return form


def _url(form: dict, fmt: str, extra: str = "") -> str:
    return f"/admin/submissions/export.{fmt}?form_id={form['id']}&sort=oldest{extra}"


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_an_export_streams_without_counting_first(owner, people, monkeypatch, fmt):
    def refuse(*args, **kwargs):
        raise AssertionError("an export counted its rows before sending them")

    monkeypatch.setattr(Collection, "count_documents", refuse)
    monkeypatch.setattr(Collection, "estimated_document_count", refuse)
    resp = owner.get(_url(people, fmt), buffered=False)
    assert resp.status_code == 200 and resp.is_streamed
    assert "X-Export-Estimate" not in resp.headers
    body = b"".join(resp.response).decode()
    assert "Zoë" in body and "美咲" in body


def test_csv_for_excel_starts_with_a_bom_and_the_plain_csv_does_not(owner, people):
    excel = owner.get(_url(people, "csv", "&bom=1")).data
    plain = owner.get(_url(people, "csv")).data
    assert excel.startswith("\ufeff".encode()) and not plain.startswith("\ufeff".encode())
    assert excel.decode("utf-8-sig") == plain.decode("utf-8")
    rows = list(csv.reader(io.StringIO(excel.decode("utf-8-sig"))))
    assert [r[5] for r in rows[1:]] == ["Zoë", "美咲", 'two\nlines, a "quote"']  # 3 rows, 6 line ends


def test_json_lines_hold_one_submission_per_line(owner, people):
    resp = owner.get(_url(people, "jsonl"))
    assert resp.mimetype == "application/x-ndjson"
    lines = resp.data.decode().splitlines()
    assert [json.loads(line)["data"]["name"] for line in lines] == [p["name"] for p in PEOPLE]
    assert owner.get(_url(people, "jsonl", "&q=nobody")).data == b""


@pytest.mark.parametrize(
    ("zone", "noon"),
    [("Asia/Tokyo", "2026-01-01T21:00:00.000+09:00"), ("America/New_York", "2026-01-01T07:00:00.000-05:00")],
)
def test_exports_give_times_in_utc_or_in_the_viewers_zone(owner, people, zone, noon):
    utc = list(csv.reader(io.StringIO(owner.get(_url(people, "csv", f"&tz={zone}")).text)))
    local = list(csv.reader(io.StringIO(owner.get(_url(people, "csv", f"&tz={zone}&times=local")).text)))
    assert utc[1][2] == "2026-01-01T12:00:00.000Z" and local[1][2] == noon
    row = json.loads(owner.get(_url(people, "jsonl", f"&tz={zone}&times=local")).text.splitlines()[0])
    assert row["created_at"] == noon


def test_the_browser_offers_every_export_with_the_current_filter(owner, people):
    page = owner.get(f"/admin/forms/{people['id']}/submissions?q=zoë&times=local").text
    for fmt in ("csv", "json", "jsonl"):
        assert f'export.{fmt}?' in page
    assert "bom=1" in page and "times=local" in page and "q=zo%C3%AB" in page


def test_an_export_of_a_view_sorted_by_a_field_keeps_every_row_in_received_order(app, api, owner, monkeypatch):
    from app.admin import submission_search  # noqa: PLC0415

    monkeypatch.setattr(submission_search, "SCAN_LIMIT", 10)  # (a page sorts at most this many)
    form = api.create_form("Many", FIELDS)
    _seed(app, form, [({"age": 100 - i}, NOON + dt.timedelta(minutes=i)) for i in range(30)])
    rows = owner.get(_url(form, "jsonl", "&sort=age:asc").replace("&sort=oldest", "")).data.decode().splitlines()
    assert [json.loads(r)["data"]["age"] for r in rows] == list(range(71, 101))  # newest first, all 30


class _Clock:
    """A monotonic clock the test moves: each row costs ``cost`` seconds; a rest moves it by its length."""

    def __init__(self, cost: float):
        self.now, self.cost, self.rests = 0.0, cost, []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.rests.append(seconds)
        self.now += seconds

    def rows(self, n: int):
        for i in range(n):
            self.now += self.cost
            yield i


@pytest.mark.parametrize(("share", "cost"), [(0.5, 0.001), (0.25, 0.002), (0.8, 0.01)])
def test_an_export_rests_so_that_it_is_busy_at_most_its_share_of_the_time(monkeypatch, share, cost):
    clock = _Clock(cost)
    monkeypatch.setattr(export, "time", clock)
    rows = list(export.paced(clock.rows(1000), share, every=100, contended=lambda: True))
    assert rows == list(range(1000))  # every row, in order
    busy = 1000 * cost
    assert len(clock.rests) == 10
    assert busy / clock.now == pytest.approx(share)


def test_an_export_with_the_whole_share_never_rests(monkeypatch):
    clock = _Clock(0.001)
    monkeypatch.setattr(export, "time", clock)
    assert len(list(export.paced(clock.rows(1000), 1.0, every=100, contended=lambda: True))) == 1000
    assert clock.rests == []


@pytest.mark.parametrize(("forms", "share"), [(2, 0.5), (3, 0.5), (4, 0.25), (3, 0.8)])
def test_an_export_of_several_forms_merged_keeps_its_share(monkeypatch, forms, share):
    """An export of a workspace's forms merges one paced stream per form (app.admin.submission_search):
    each rests for the rows read since the last rest of any of them, not again for the others' rests
    (which made an export of 3 forms slow without bound while this process had a delivery in flight)."""
    clock = _Clock(0.001)
    monkeypatch.setattr(export, "time", clock)
    streams = [export.paced(clock.rows(500), share, every=25, contended=lambda: True) for _ in range(forms)]
    assert sum(1 for _ in heapq.merge(*streams)) == 500 * forms
    busy = 500 * forms * 0.001
    assert busy / clock.now == pytest.approx(share, rel=0.05)


@pytest.mark.parametrize("share", [0.05, 0.5, 0.9])
def test_an_export_rests_only_while_others_wait_for_the_cores(monkeypatch, share):
    clock = _Clock(0.001)
    monkeypatch.setattr(export, "time", clock)
    waiting = iter([False, True, False, False, True] * 2)  # others want the cores at 2 of each 5 checks
    rows = list(export.paced(clock.rows(1000), share, every=100, contended=lambda: next(waiting)))
    assert rows == list(range(1000)) and len(clock.rests) == 4
    assert clock.rests == pytest.approx([0.1 * (1 / share - 1)] * 4)


def test_a_heavy_read_rests_while_this_process_delivers_even_with_idle_cores(live_app, live_api, sink, monkeypatch):
    """Deliveries share the process's GIL with an export's formatting: an idle host's cores do not mean
    that nobody waits (another workspace's p99 beside heavy reads: bench/README.md)."""
    monkeypatch.setattr(export, "cpus_contended", lambda: False)
    arrived, release = threading.Event(), threading.Event()

    def held(_req):
        arrived.set()
        release.wait(30)
        return Reply(200)

    sink.responder = held
    form = live_api.create_form()
    live_api.add_plugin(form["id"], "webhook", {"url": sink.url})
    with live_app.app_context():
        assert export.others_waiting() is False  # nothing in flight, cores idle: no rest
        job = live_api.submit(form["id"], {"v": 1})["jobs"][0]
        assert arrived.wait(15)
        assert export.others_waiting() is True  # a delivery is running in this process
        release.set()
        wait_until(lambda: live_api.job(job)["status"] == "completed", what="delivery finished")
        wait_until(lambda: not export.others_waiting(), what="the scheduler let the job go")


@pytest.mark.parametrize(("running", "contended"), [(1, False), (2, False), (3, True), (9, True)])
def test_the_cores_are_contended_when_more_threads_are_ready_than_cores(tmp_path, monkeypatch, running, contended):
    monkeypatch.setattr(export.os, "cpu_count", lambda: 2)
    stat = tmp_path / "stat"
    stat.write_text(f"cpu  1 2 3 4\nctxt 99\nprocs_running {running}\nprocs_blocked 0\n")
    assert export.cpus_contended(str(stat)) is contended
    assert export.cpus_contended(str(tmp_path / "absent")) is True  # unknown: taken as contended


# ---- XLSX ------------------------------------------------------------------------------------------


def _sheet(body: bytes) -> list[list]:
    from openpyxl import load_workbook  # noqa: PLC0415

    book = load_workbook(io.BytesIO(body), read_only=True)
    [sheet] = book.worksheets
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    book.close()
    return cells


def test_xlsx_opens_with_the_csv_columns_rows_and_text(owner, people):
    resp = owner.get(_url(people, "xlsx"), buffered=False)
    assert resp.status_code == 200 and resp.is_streamed
    assert resp.mimetype == export.FORMATS["xlsx"] and ".xlsx" in resp.headers["Content-Disposition"]
    rows = _sheet(b"".join(resp.response))
    table = list(csv.reader(io.StringIO(owner.get(_url(people, "csv")).text)))
    assert rows[0] == table[0] and len(rows) == len(table) == 4
    assert [r[5] for r in rows[1:]] == ["Zoë", "美咲", 'two\nlines, a "quote"']
    assert [r[6] for r in rows[1:]] == [30, 41, 52]  # numbers stay numbers
    assert [r[0] for r in rows[1:]] == [r[0] for r in table[1:]]


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/New_York"])
def test_xlsx_follows_the_view_filters_and_time_zone(owner, people, zone):
    rows = _sheet(owner.get(_url(people, "xlsx", f"&q=zoë&tz={zone}&times=local")).data)
    local = list(csv.reader(io.StringIO(owner.get(_url(people, "csv", f"&q=zoë&tz={zone}&times=local")).text)))
    assert len(rows) == 2 and rows[1][5] == "Zoë" and rows[1][2] == local[1][2]
    assert _sheet(owner.get(_url(people, "xlsx", "&q=nobody")).data) == [rows[0]]  # the header only


@pytest.mark.parametrize("value", ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "=HYPERLINK(\"http://x\")"])
def test_xlsx_neutralises_formulas_like_the_csv(app, api, owner, value):
    from openpyxl import load_workbook  # noqa: PLC0415

    form = api.create_form("Sheet", FIELDS)
    _seed(app, form, [({"name": value, "email": "a\x01b@example.com"}, NOON)])
    body = owner.get(_url(form, "xlsx")).data
    rows = _sheet(body)
    assert rows[1][5] == "'" + value and rows[1][4] == "a\ufffdb@example.com"  # (a control char is no XML)
    sheet = load_workbook(io.BytesIO(body)).worksheets[0]
    assert not [c for row in sheet.iter_rows() for c in row if c.data_type == "f"]


def test_xlsx_memory_does_not_grow_with_the_rows():
    """Rows go out while they are written: the most memory held at once is the same for 2,000 rows and
    for 20 times as many, and the bytes leave in many chunks (the first before the last row is read)."""
    from app.admin.xlsx_stream import xlsx_chunks  # noqa: PLC0415

    read = [0]  # rows read so far

    def rows(n: int):
        yield ["id", "name", "age"]
        for i in range(n):
            read[0] = i + 1
            yield [f"{i:024x}", f"Zoë {i} 美咲", i]

    peaks = {}
    for n in (2_000, 40_000):
        tracemalloc.start()
        chunks = xlsx_chunks(rows(n))
        next(chunks)
        assert read[0] < n  # the first bytes before the last row
        count = 1 + sum(1 for _ in chunks)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert count > n // 8_000
    assert peaks[40_000] < 1.5 * peaks[2_000]


@pytest.mark.parametrize(("batch", "rows"), [(7, 40), (10, 36), (1_000, 26)])
@pytest.mark.parametrize("sort", ["newest", "oldest"])
def test_an_export_read_in_batches_ahead_has_every_row_once_in_order(app, api, owner, monkeypatch, batch, rows, sort):
    from app.admin import submission_search  # noqa: PLC0415

    monkeypatch.setattr(submission_search, "EXPORT_BATCH", batch)
    form = api.create_form("Batches", FIELDS)
    _seed(app, form, [({"age": i}, NOON + dt.timedelta(minutes=i)) for i in range(rows)])
    url = f"/admin/submissions/export.jsonl?form_id={form['id']}&sort={sort}"
    ages = [json.loads(line)["data"]["age"] for line in owner.get(url).data.decode().splitlines()]
    assert ages == (list(range(rows)) if sort == "oldest" else list(range(rows))[::-1])
    day = "&from=2026-01-01&to=2026-01-01&tz=UTC"  # (every row: a bounded key range reads the same)
    assert len(owner.get(url + day).data.decode().splitlines()) == rows


@pytest.mark.parametrize("extra", ["", "&bom=1", "&times=local&tz=Asia/Tokyo"])
def test_the_csv_header_leaves_before_any_submission_is_read(owner, people, monkeypatch, extra):
    reads = []
    find = Collection.find

    def counted(self, *args, **kwargs):
        if self.name == "submissions" and kwargs.get("sort"):  # (rows, not the index-completeness check)
            reads.append(args)
        return find(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "find", counted)
    chunks = owner.get(_url(people, "csv", extra), buffered=False).response
    header = next(chunks)
    header = header.decode() if isinstance(header, bytes) else header
    assert header.lstrip("\ufeff").startswith("id,form,received_at,revision,email,name,age") and not reads
    assert "Zoë" in "".join(c.decode() if isinstance(c, bytes) else c for c in chunks) and reads


@pytest.mark.parametrize(("rows", "sheets"), [(9, 1), (10, 2), (11, 2), (25, 3)])
def test_xlsx_rows_past_a_sheets_limit_go_on_in_another_sheet_under_the_header(rows, sheets):
    from openpyxl import load_workbook  # noqa: PLC0415

    from app.admin.xlsx_stream import xlsx_chunks  # noqa: PLC0415

    table = [["id", "name"], *[[i, f"Zoë {i}"] for i in range(rows)]]
    book = load_workbook(io.BytesIO(b"".join(xlsx_chunks(table, max_rows=10))), read_only=True)
    assert len(book.worksheets) == sheets
    found = [list(r) for ws in book.worksheets for r in ws.iter_rows(values_only=True)]
    assert [r for r in found if r != ["id", "name"]] == table[1:]  # every row once, in order
    assert found.count(["id", "name"]) == sheets
