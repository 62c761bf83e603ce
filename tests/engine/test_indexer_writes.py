"""What the indexer's batch writes on the submissions it settles (app.engine.indexer._settle): one update per
new submission (three were 45 % of its store time), none of them larger than WRITE_CHUNK updates (a long
command holds the embedded store while the intake waits), and still the right figures and flags when a
new submission is edited between the batch's read and its settle."""

from __future__ import annotations

from collections import Counter

import pytest

from app.engine import indexer
from app.models import Submission
from tests.support.commands import commands_sent
from tests.test_form_figures import DAY0, FIELDS, _accept, _check, _docs, _drain, _summary


def _flagged(app, form: dict) -> int:
    return sum(1 for d in _docs(app, form) if indexer.PENDING in d)


@pytest.mark.parametrize(("count", "batch", "chunk"), [(1, 100, 100), (7, 100, 3), (25, 10, 4)])
def test_each_new_submission_is_settled_with_one_update_in_short_commands(
    app, api, monkeypatch, count, batch, chunk
):
    monkeypatch.setattr(indexer, "BATCH", batch)
    monkeypatch.setattr(indexer, "WRITE_CHUNK", chunk)
    form = api.create_form("Writes", FIELDS)
    _accept(
        app,
        form,
        [({"colour": "red", "age": i, "score": i + 0.5, "city": "Lyon"}, DAY0) for i in range(count)],
    )
    with commands_sent() as sent:
        assert _drain(app) == count
    updates = [
        len(cmd.get("updates") or [])
        for name, cmd in sent
        if name == "update" and cmd["update"] == "submissions"
    ]
    assert sum(updates) == count
    assert max(updates) <= chunk
    assert _flagged(app, form) == 0
    _check(_summary(api, form), _docs(app, form))


@pytest.mark.parametrize("edited", [0, 3, 5])
def test_a_new_submission_edited_before_its_batch_settles_stays_due_and_is_counted_once(
    app, api, monkeypatch, edited
):
    form = api.create_form("Edited meanwhile", FIELDS)
    rows = [{"colour": "red", "age": i, "score": i + 0.5, "city": "Lyon"} for i in range(6)]
    ids = [str(i) for i in _accept(app, form, [(row, DAY0) for row in rows])]
    entries = indexer._entries

    def edit_meanwhile(docs):  # the batch read them all as new; one is edited before it settles
        found = entries(docs)
        # (the numbers kept: a figure's min and max are not taken back by an edit, only counts are)
        changed = {**rows[edited], "colour": "blue"}
        assert api.patch(f"/api/submissions/{ids[edited]}", {"data": changed}).status_code == 200
        return found

    monkeypatch.setattr(indexer, "_entries", edit_meanwhile)
    with app.app_context():
        assert indexer.run_batch() == 6
    monkeypatch.setattr(indexer, "_entries", entries)
    with app.app_context():
        still = [
            str(d["_id"]) for d in Submission._get_collection().find({indexer.PENDING: {"$exists": True}})
        ]
    assert still == [ids[edited]]
    _drain(app)
    docs = _docs(app, form)
    assert _flagged(app, form) == 0
    colours = Counter(d["data"].get("colour") for d in docs)
    assert colours == {"red": 5, "blue": 1}
    _check(_summary(api, form), docs)
