"""The bench's code works (on tiny sizes). No timing is asserted here: targets live in `make bench`."""

from __future__ import annotations

import json
from importlib.metadata import distributions

import pymongo
import pytest
import requests

from app.contract.registry import ENTRY_POINT_GROUP
from bench.bad_plugins import PLUGINS, install_dist
from bench.harness import JOBS
from bench.history import seed_history
from bench.report import Figure, Report, at_least, at_most
from bench.run import run_bench
from bench.settings import parse
from bench.sink import SinkProcess
from bench.stats import percentile
from bench.store_raw import job_doc, raw_job_rate


def test_settings_come_from_quick_then_env_then_flags(monkeypatch):
    monkeypatch.setenv("BENCH_HISTORY", "50")
    monkeypatch.setenv("BENCH_RQ", "false")
    s = parse(["--quick", "--jobs", "12", "--env", "WORKER_THREADS=4", "--env", "POLL_INTERVAL=0.5"])
    assert (s.jobs, s.history, s.rq) == (12, 50, False)
    assert s.raw_ops == parse(["--quick"]).raw_ops < parse([]).raw_ops
    assert s.app_env == {"WORKER_THREADS": "4", "POLL_INTERVAL": "0.5"}


def test_percentile_is_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([5, 1, 3, 2, 4], 50) == 3
    assert percentile(list(range(1, 101)), 99) == 99


def test_sink_counts_each_webhook_id_once_and_resets():
    with SinkProcess() as sink:
        for msg_id in ("msg_a", "msg_a", "msg_b"):
            assert requests.post(sink.url, json={}, headers={"webhook-id": msg_id}, timeout=5).ok
        stats = sink.stats()
        assert (stats["count"], stats["unique"]) == (3, 2)
        assert stats["first"] <= stats["last"]
        assert sorted(sink.arrivals()) == ["msg_a", "msg_b"]
        sink.reset()
        assert sink.stats()["count"] == 0


def test_raw_store_loop_completes_every_job_and_logs_it(store_uri, db_name):
    assert raw_job_rate(store_uri, db_name, 20) > 0
    client = pymongo.MongoClient(store_uri)
    try:
        statuses = [j["status"] for j in client[db_name][JOBS].find({}, {"status": 1})]
        assert statuses == ["completed"] * 20
        assert len(list(client[db_name]["plugin_execution_logs"].find({}, {"_id": 1}))) == 20
    finally:
        client.close()


def test_history_copies_a_real_job_as_finished_jobs_with_logs(store_uri, db_name):
    template = job_doc(0, workspace_id="w1")
    seed_history(store_uri, db_name, 30, [template], batch=7)
    client = pymongo.MongoClient(store_uri)
    try:
        jobs = list(client[db_name][JOBS].find({"form_id": template["form_id"]}))
        assert len(jobs) == 30 and len({j["dispatch_key"] for j in jobs}) == 30
        assert {j["status"] for j in jobs} <= {"completed", "failed", "cancelled"}
        assert all(j["workspace_id"] == "w1" and j["payload"] == template["payload"] for j in jobs)
        assert len(list(client[db_name]["plugin_execution_logs"].find({}, {"_id": 1}))) == 30
    finally:
        client.close()


def test_the_bad_plugins_are_found_as_an_installed_package_finds_them(tmp_path):
    [dist] = distributions(path=[str(install_dist(tmp_path))])
    found = {ep.name: ep for ep in dist.entry_points.select(group=ENTRY_POINT_GROUP)}
    assert sorted(found) == sorted(PLUGINS)
    assert {ep.load().id for ep in found.values()} == set(PLUGINS)  # importable from the repository root


def test_isolation_only_and_the_bad_plugins_run_have_flags(monkeypatch):
    monkeypatch.setenv("BENCH_BAD_PLUGINS_RATE", "0.5")
    s = parse(["--isolation-only", "--no-bad-plugins"])
    assert (s.isolation_only, s.bad_plugins, s.bad_plugins_rate) == (True, False, 0.5)
    assert (parse([]).isolation_only, parse([]).bad_plugins) == (False, True)


def test_report_gives_each_figure_its_verdict(tmp_path):
    report = Report({"jobs": 5})
    report.add(Figure("a", "ratio to raw", 0.5, "ratio", "≥ 70%", at_least(0.5, 0.7)))
    report.add(Figure("b", "p50", 9.0, "ms", "≤ 15 ms", at_most(9.0, 15)))
    report.add(Figure("c", "peer", None, "jobs/s", note="skipped: no redis"))
    table = report.table()
    assert "50%" in table and "FAIL" in table and "PASS" in table and "SKIP" in table
    assert "skipped: no redis" in table
    report.write(tmp_path / "latest.json")
    saved = json.loads((tmp_path / "latest.json").read_text())
    assert [f["result"] for f in saved["figures"]] == ["FAIL", "PASS", "SKIP"]


# The bench in two halves, so that parallel test workers can run them side by side: every figure but the
# isolation runs' (the backfill phase on a small backfill), then the isolation runs alone.
MAIN_FIGURES = {
    "intake_rps",
    "intake_p99_ms",
    "jobs_per_s",
    "one_integration_jobs_per_s",
    "raw_store_jobs_per_s",
    "ratio_to_raw",
    "dispatch_p50_ms",
    "dispatch_p99_ms",
    "history_jobs_per_s",
    "ratio_history",
    "recovery_s",
    "outage_503_p99_ms",
    "rss_peak_mb",
    "rss_total_mb",
    "e2e_intake_rps",
    "e2e_per_s",
    "heavy_reads_p99_ratio",
    "heavy_reads_circuit_open",
}
ISOLATION_FIGURES = {
    "rss_peak_mb",
    "rss_total_mb",
    "thread_jobs_per_s",
    "process_jobs_per_s",
    "ratio_process_to_thread",
    "dispatch_process_p50_ms",
    "dispatch_process_p99_ms",
    "bad_plugins_base_p50_ms",
    "bad_plugins_during_p50_ms",
    "bad_plugins_p50_ratio",
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("part", "expected"),
    [(["--no-isolation", "--backfill=300"], MAIN_FIGURES), (["--isolation-only"], ISOLATION_FIGURES)],
    ids=["main", "isolation"],
)
@pytest.mark.heavy(seconds=97)
def test_a_tiny_bench_measures_every_figure(tmp_path, monkeypatch, part, expected):
    monkeypatch.setenv("BENCH_INSTALL_REDIS", "false")  # the RQ peer runs only if it is already there
    settings = parse(
        [
            "--quick",
            "--jobs=12",
            "--one-integration-jobs=12",
            "--history=60",
            "--raw-ops=20",
            "--recovery-jobs=30",
            "--dispatch-seconds=1",
            "--dispatch-rate=10",
            "--outage-seconds=4.5",
            "--isolation-jobs=12",
            "--lease-seconds=2",
            "--web-workers=1",
            "--e2e-submissions=20",
            "--heavy-reads=300",
            "--step-rate=5",
            "--step-seconds=1",
            "--env=SWEEP_INTERVAL=0.5",
            "--env=SWEEP_MIN_AGE=0.5",
            "--env=SHUTDOWN_GRACE=1",
            f"--out={tmp_path / 'latest.json'}",
            *part,
        ]
    )
    report = run_bench(settings, tmp_path / "work")
    assert not [n for n in report.notes if " failed: " in n], report.notes
    measured = {f.key for f in report.figures if f.value is not None}
    assert expected <= measured, expected - measured


def test_the_heavy_reads_run_can_run_alone():
    assert parse(["--heavy-reads-only", "--heavy-reads", "500"]).heavy_reads_only is True
    assert parse(["--heavy-reads-only"]).heavy_reads == 20_000
    assert parse([]).heavy_reads_only is False
