"""Switching an integration back on offers the gap: no jobs while it was off, and the answer of the PATCH
that switches it on names the window and how many submissions arrived in it (to send with a backfill)."""

from __future__ import annotations

import datetime as dt

import pytest

from app.engine import alerts, backfill
from app.models import PluginConfig, PluginJob


def _parsed(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(("missed", "cap"), [(1, 10), (3, 10), (3, 2)])
def test_switching_on_again_answers_with_the_submissions_missed_meanwhile(app, api, monkeypatch, missed, cap):
    """The count stops at a cap (it answers a request): past it, ``more`` says there are more."""
    monkeypatch.setattr(backfill, "GAP_COUNT_CAP", cap)
    form = api.create_form("Orders", [{"name": "email", "type": "email"}])
    hook = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/hook"}, name="CRM")
    api.submit(form["id"], {"email": "before@example.com"})
    off = api.patch(f"/api/plugin-configs/{hook['id']}", {"enabled": False})
    assert off.status_code == 200 and "gap" not in off.json
    assert off.json["disabled_at"] is not None and off.json["disabled_reason"] is None
    for i in range(missed):
        assert api.submit(form["id"], {"email": f"p{i}@example.com"})["jobs"] == []
    on = api.patch(f"/api/plugin-configs/{hook['id']}", {"enabled": True})
    assert on.status_code == 200
    gap = on.json["gap"]
    assert (gap["submissions"], gap["more"]) == (min(missed, cap), missed > cap)
    assert _parsed(gap["since"]) == _parsed(off.json["disabled_at"]) < _parsed(gap["until"])
    assert on.json["disabled_at"] is None
    with app.app_context():
        assert PluginJob.objects(config_id=hook["id"]).count() == 1  # only the one before


def test_no_gap_is_offered_for_a_patch_that_keeps_it_on_or_for_one_never_switched_off(app, api):
    form = api.create_form("Orders", [{"name": "email", "type": "email"}])
    hook = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/hook"})
    assert "gap" not in api.patch(f"/api/plugin-configs/{hook['id']}", {"enabled": True}).json
    assert "gap" not in api.patch(f"/api/plugin-configs/{hook['id']}", {"name": "Renamed"}).json


def test_a_switched_off_integration_raises_no_disabled_alert(app, api):
    """The time a person switched it off is kept for the gap; only failures' switch-offs are alerted."""
    form = api.create_form("Orders", [{"name": "email", "type": "email"}])
    hook = api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/hook"})
    api.patch(f"/api/plugin-configs/{hook['id']}", {"enabled": False})
    with app.app_context():
        assert PluginConfig.objects.get(id=hook["id"]).disabled_at is not None
        assert [a.kind for a in alerts.check(app.config)] == []
