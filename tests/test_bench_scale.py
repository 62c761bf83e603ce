"""The scale run's code works (``make bench-scale`` on a tiny store). No timing is asserted: the targets live in
the run's report."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from bench.scale import FORMS, HOOKS, form_of, parse, person, run_scale


def test_scale_size_comes_from_the_environment_then_the_flag(monkeypatch):
    assert parse([]).submissions == 1_000_000
    monkeypatch.setenv("SCALE_SUBMISSIONS", "200000")
    assert parse([]).submissions == 200_000
    assert parse(["--submissions", "500"]).submissions == 500
    assert parse(["--no-exports", "--intake", "0"]).exports is False


@pytest.mark.parametrize("n", [1_000, 10_000])
def test_one_form_holds_half_and_the_others_share_the_rest(n):
    per_form = Counter(form_of(i) for i in range(n))
    assert set(per_form) == set(range(FORMS)) and per_form[0] == n // 2
    others = [per_form[k] for k in range(1, FORMS)]
    assert max(others) - min(others) <= 1


def test_seeded_values_look_like_people_and_are_the_same_for_the_same_number():
    one = person(7)
    assert one == person(7) and one != person(8)
    assert "@" in one["email"] and isinstance(one["age"], int) and len(one["visit"]) == 10


@pytest.mark.heavy(seconds=19)
@pytest.mark.slow
def test_a_tiny_scale_run_seeds_and_measures_every_figure(tmp_path):
    settings = parse(["--submissions", "40", "--runs", "2", "--intake", "10", "--out", str(tmp_path / "scale.json")])
    report = run_scale(settings, tmp_path / "work")
    seeded = json.loads((tmp_path / "work" / "seeded.json").read_text())
    assert seeded["counts"]["submissions"] == 40
    assert seeded["counts"]["plugin_jobs"] == seeded["counts"]["plugin_execution_logs"] == 40 * HOOKS
    assert seeded["counts"]["submission_terms"] > 40 * 5  # the words of every value
    assert seeded["sample_ids"] and seeded["sample_emails"]  # (the lookups look something up)
    measured = {f.key: f for f in report.figures}
    pages = ["page_first", "page_100", "lookup_id", "lookup_email", "search_word", "date_filter", "field_filter"]
    assert all(measured[k].value is not None and "[200]" in measured[k].note for k in pages)
    for fmt in ("csv", "jsonl", "xlsx"):  # the big form: half of the 40, and the one posted through the API
        assert measured[f"export_{fmt}_rows_s"].note.startswith("21 rows"), measured[f"export_{fmt}_rows_s"].note
        assert measured[f"export_{fmt}_first_byte"].value is not None
    assert {"dashboard", "summary", "seed_seconds", "store_mb", "intake_rps_ratio", "drain_jobs_s_ratio"} <= set(measured)
