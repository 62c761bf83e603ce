"""The indexer's pass waits while deliveries are waiting for this process's threads (their writes and its
compete on the store), but never longer than INDEX_MAX_DEFER since it last ran, and runs at once when
nothing waits (app.engine.housekeeping.index_submissions)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from app.engine import housekeeping, indexer
from app.models import Submission
from tests.admin_ui.conftest import owner_client
from tests.admin_ui.test_submissions_browser import _listed


def _unindexed() -> int:
    return Submission.objects(**{indexer.PENDING + "__exists": True}).count()


@pytest.fixture
def accepted(api, monkeypatch) -> int:
    """Five submissions the intake flagged for the indexer, which does two per batch here."""
    monkeypatch.setattr(indexer, "BATCH", 2)
    form = api.create_form(fields=[{"name": "city", "type": "text"}])
    for city in ("Lyon", "Oslo", "Kyoto", "Lima", "Baku"):
        api.submit(form["id"], {"city": city})
    assert _unindexed() == 5
    return 5


def _scheduler(waiting: bool, last_ran_ago: float) -> SimpleNamespace:
    state = housekeeping.State()
    state.indexed_at = time.monotonic() - last_ran_ago
    return SimpleNamespace(deliveries_waiting=waiting, state=state)


@pytest.mark.parametrize("last_ran_ago", [0.0, 5.0, housekeeping.INDEX_MAX_DEFER - 1])
def test_the_indexer_waits_while_deliveries_wait(accepted, last_ran_ago):
    s = _scheduler(True, last_ran_ago)
    housekeeping.index_submissions(s)
    assert _unindexed() == accepted


@pytest.mark.parametrize("last_ran_ago", [housekeeping.INDEX_MAX_DEFER + 0.5, 600.0])
def test_past_the_bound_it_indexes_anyway_and_waits_again(accepted, last_ran_ago):
    s = _scheduler(True, last_ran_ago)
    housekeeping.index_submissions(s)
    assert _unindexed() == 0
    assert time.monotonic() - s.state.indexed_at < 5  # its clock restarted: the next wait is a full one


@pytest.mark.parametrize("last_ran_ago", [0.0, 600.0])
def test_with_no_delivery_waiting_it_indexes_everything_due(accepted, last_ran_ago):
    housekeeping.index_submissions(_scheduler(False, last_ran_ago))
    assert _unindexed() == 0


def test_search_finds_what_the_deferred_indexer_has_not_reached(app, accepted):
    housekeeping.index_submissions(_scheduler(True, 0.0))
    assert _unindexed() == accepted
    kyoto = Submission.objects(data__city="Kyoto").first()
    url = f"/admin/forms/{kyoto.form_id}/submissions?q=kyoto"
    assert _listed(owner_client(app), url) == [str(kyoto.id)]
