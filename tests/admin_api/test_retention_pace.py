"""Retention beside live traffic: its batches follow their own latency. A slow batch (the store is slow for
everyone: each batch holds it) makes the next one smaller and the pass rest, whatever the cores are doing;
quick batches grow back; the pass still removes everything."""

from __future__ import annotations

import pytest

from app.admin import export
from app.engine import removal, retention
from tests.admin_api.test_data_removal import _submit, gone


class Clock:
    """A monotonic clock the test moves (a batch's cost); a rest moves it by its length."""

    def __init__(self):
        self.now, self.rests = 0.0, []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.rests.append(seconds)
        self.now += seconds


def test_retention_takes_smaller_batches_and_rests_while_they_are_slow_and_still_finishes(api, monkeypatch):
    form = api.create_form()
    assert api.patch(f"/api/forms/{form['id']}", {"retention_days": 1}).status_code == 200
    old = [_submit(api, form, {"n": i}, age_days=2) for i in range(40)]
    clock = Clock()
    monkeypatch.setattr(export, "time", clock)
    monkeypatch.setattr(retention, "time", clock)
    monkeypatch.setattr(retention, "cpus_contended", lambda: False)  # nobody else wants the cores
    batches: list[tuple[int, float]] = []  # (size, seconds)
    real = removal.remove

    def remove(docs):
        per = 0.2 if 4 <= len(batches) < 9 else 0.001  # the store is slow for batches 5 to 9
        batches.append((len(docs), per * len(docs)))
        clock.now += per * len(docs)
        return real(docs)

    monkeypatch.setattr(removal, "remove", remove)
    removed = retention.run_pass(batch=8, share=0.25, seconds=3600.0, target=retention.batch_target(3000))

    assert removed.submissions == 40 and all(gone(s) for s in old)  # it finishes
    sizes = [size for size, _ in batches]
    assert max(sizes) == 8 and sizes[:4] == [1, 2, 4, 8]  # quick batches grow to RETENTION_BATCH
    assert sizes[4:9] == [8, 4, 2, 1, 1]  # each slow batch halves the next
    assert sizes[9:12] == [1, 2, 4]  # and they grow back once the store is quick
    slow = [took for _, took in batches if took > 0.3]
    assert clock.rests == pytest.approx([3 * took for took in slow])  # a rest after each slow batch only
    assert len(slow) == 3


@pytest.mark.parametrize(
    ("latencies", "sizes"),
    [
        ([0.01] * 6, [10, 20, 40, 80, 100, 100, 100]),  # quick: doubles up to the most
        ([0.5, 0.5, 0.5, 0.5, 0.5], [10, 5, 2, 1, 1, 1]),  # slow: halves down to one
        ([0.2, 0.2, 0.01], [10, 10, 10, 20]),  # near the target: keeps its size
        ([0.01, 0.01, 1.0, 0.01], [10, 20, 40, 20, 40]),
    ],
)
def test_the_batch_size_follows_the_latency_of_the_last_batch(latencies, sizes):
    pace = retention.Pace(100, 0.3, cores_contended=lambda: False)
    seen = [pace.size]
    for took in latencies:
        pace.took(took)
        seen.append(pace.size)
        assert pace.rest_now() is (took > 0.3)
    assert seen == sizes


def test_the_pass_rests_while_others_want_the_cores_even_when_its_batches_are_quick():
    pace = retention.Pace(100, 0.3, cores_contended=lambda: True)
    pace.took(0.01)
    assert pace.rest_now() and not pace.slow
