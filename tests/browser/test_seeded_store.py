"""In Chromium, on a store seeded as the scale run seeds it (bench/scale.py: submissions with their search
postings and figures basis, the form's figures): word search, a field filter, exports of the filtered and
the whole view (rows, and "Zoë" and "美咲" intact in the CSV for Excel and the XLSX), and retention removing
the old submissions with its record shown; axe at 1280 px on each page."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time

import pymongo
import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from app.engine import retention
from app.models import Submission, SubmissionTerm
from bench.scale import FIELDS, person, submission_docs
from bench.scale_derived import write_figures
from tests.browser.axe_check import assert_no_serious_violations
from tests.browser.conftest import login
from tests.support.seed import SEED_TIMEOUT

pytestmark = pytest.mark.browser

SEEDED = 500
OLD = 200  # received 60 to 61 days ago: past a 30-day retention
KEEP_DAYS = 30


def _seed(world, form_id: str) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    form = {"id": form_id, "workspace_id": world.workspace_id, "fields": FIELDS}
    subs, terms = [], []
    for i in range(SEEDED):
        at = now - dt.timedelta(days=60 if i < OLD else 0, minutes=SEEDED - i)
        sub, postings = submission_docs(form, i, at)
        subs.append(sub)
        terms += postings
    # (a deadline of the seed's own: the app's 3 s socket timeout was outlasted on a loaded host)
    with world.server.app.app_context(), pymongo.timeout(SEED_TIMEOUT):
        coll = Submission._get_collection()
        coll.insert_many(subs)
        SubmissionTerm._get_collection().insert_many(terms)
        write_figures(coll.database, [form_id])


def _names(indices) -> list[str]:
    return [person(i)["name"] for i in indices]


def _export(page, link: str, target):
    with page.expect_download() as download:
        page.get_by_role("link", name=link).click()
    download.value.save_as(target)
    return target


def test_search_filter_export_and_retention_on_a_seeded_store(page, world, tmp_path):
    form_id = world.create_form("Visits", FIELDS)
    _seed(world, form_id)
    everyone = _names(range(SEEDED))
    assert any("Zoë" in n for n in everyone) and any("美咲" in n for n in everyone)  # (the seed holds both)
    login(page, world.owner)
    rows = page.locator("#submissions-table tbody tr")

    # A word search: the rows with that first and last name, whichever field holds them.
    wanted = "Zoë Okafor"
    expected = sum(n == wanted for n in everyone)
    assert 0 < expected <= 25  # (one page)
    page.goto(f"/admin/forms/{form_id}/submissions")
    page.get_by_role("searchbox", name="Search").fill(wanted)
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(expected)
    for text in rows.all_inner_texts():
        assert "zoë" in text.lower() and "okafor" in text.lower()
    assert_no_serious_violations(page, "seeded submissions, word search")

    # A field filter, then its export: exactly the filtered rows.
    lisbon = sum(person(i)["city"] == "Lisbon" for i in range(SEEDED))
    page.goto(f"/admin/forms/{form_id}/submissions")
    page.get_by_label("Field", exact=True).select_option("city")
    page.get_by_label("Field contains").fill("Lisbon")
    page.get_by_role("button", name="Search").click()
    expect(rows.first).to_contain_text("Lisbon")
    assert_no_serious_violations(page, "seeded submissions, field filter")
    filtered = _export(page, "Export CSV", tmp_path / "lisbon.csv")
    table = list(csv.reader(io.StringIO(filtered.read_text(encoding="utf-8"))))
    city = table[0].index("city")
    assert len(table) == lisbon + 1 and {row[city] for row in table[1:]} == {"Lisbon"}
    expect(page.locator("#export-count")).to_have_text(f"Exported {lisbon:,} rows.")

    # The whole form: every row, the names as written (a BOM for Excel; the XLSX keeps them too).
    page.goto(f"/admin/forms/{form_id}/submissions")
    raw = _export(page, "CSV for Excel", tmp_path / "all.csv").read_bytes()
    assert raw.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    name = table[0].index("name")
    assert len(table) == SEEDED + 1 and sorted(r[name] for r in table[1:]) == sorted(everyone)
    sheet = load_workbook(_export(page, "Excel (XLSX)", tmp_path / "all.xlsx"), read_only=True).worksheets[0]
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert len(cells) == SEEDED + 1 and sorted(r[name] for r in cells[1:]) == sorted(everyone)

    # Retention: 30 days on the form; the old submissions go, the recent ones stay, the removal is recorded.
    page.goto(f"/admin/forms/{form_id}")
    page.get_by_text("Intake settings").click()
    page.get_by_label("Keep submissions for (days)").fill(str(KEEP_DAYS))
    page.get_by_role("button", name="Save retention").click()
    expect(page.locator("#removals-h + p")).to_contain_text(f"older than {KEEP_DAYS} days are removed")
    app = world.server.app
    deadline = time.monotonic() + 60
    with app.app_context():
        coll = Submission._get_collection()
        # (removed by the scheduler's pass or by this one, whichever holds the lock)
        while coll.count_documents({"form_id": form_id}) > SEEDED - OLD:
            assert time.monotonic() < deadline, "retention did not remove the old submissions in time"
            retention.run(app.config)
            time.sleep(0.2)  # (a poll interval)
        assert coll.count_documents({"form_id": form_id}) == SEEDED - OLD
    page.goto(f"/admin/forms/{form_id}")
    page.get_by_text("Intake settings").click()
    record = page.locator("#removals-table tr", has_text="Retention")
    expect(record).to_have_count(1)
    expect(record).to_contain_text(f"{OLD} submissions")
    expect(record).to_contain_text(f"older than {KEEP_DAYS} days")
    assert_no_serious_violations(page, "form page with its removal record")
    page.goto(f"/admin/forms/{form_id}/submissions")
    raw = _export(page, "CSV for Excel", tmp_path / "kept.csv").read_bytes()
    kept = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert sorted(r[name] for r in kept[1:]) == sorted(_names(range(OLD, SEEDED)))
    expect(page.locator("#export-count")).to_have_text(re.compile(rf"^Exported {SEEDED - OLD:,} rows\.$"))
