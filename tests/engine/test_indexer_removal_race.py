"""A submission removed (purge, retention, erasure) while the indexer has it in hand keeps no search
postings and no place in the figures, whichever side writes last: the indexer's steps are run directly
around the removal."""

from __future__ import annotations

import pytest
from bson import ObjectId
from pymongo.collection import Collection

from app.engine import indexer, removal
from app.models import FormFigures, Submission, SubmissionTerm

FIELDS = [{"name": "email", "type": "email"}, {"name": "note", "type": "textarea"}]


def _postings(sub_id: str) -> int:
    return SubmissionTerm._get_collection().count_documents(
        {"_id": {"$gte": f"{sub_id} ", "$lt": f"{sub_id}!"}}
    )


def _doc(sub_id: str) -> dict:
    return Submission._get_collection().find_one({"_id": ObjectId(sub_id)})


def _counted(form_id: str) -> int:
    return sum(d["count"] for d in FormFigures._get_collection().find({"form_id": form_id, "span": "day"}))


@pytest.fixture
def form(api) -> dict:
    return api.create_form("Contact", FIELDS)


@pytest.mark.parametrize("others", [0, 1, 3])
def test_a_batch_read_before_a_removal_writes_nothing_for_the_removed_submission(
    api, form, monkeypatch, others
):
    gone = api.submit(form["id"], {"email": "zoe@example.com", "note": "call me"})["id"]
    kept = [api.submit(form["id"], {"email": f"k{i}@example.com"})["id"] for i in range(others)]
    state, read = indexer._state(), indexer._due()  # the batch's reads ...
    assert {str(d["_id"]) for d in read} == {gone, *kept}
    assert removal.remove([_doc(gone)]).submissions == 1  # ... then the removal ...
    real_state, first = indexer._state, [state]
    monkeypatch.setattr(indexer, "_state", lambda: first.pop() if first else real_state())
    monkeypatch.setattr(indexer, "_due", lambda: [dict(d) for d in read])
    assert indexer.run_batch() == others  # ... then the batch's writes
    assert _postings(gone) == 0
    assert all(_postings(k) > 0 for k in kept)
    assert _counted(form["id"]) == others


def test_postings_written_between_a_removal_s_steps_are_taken_away_by_it(api, form, monkeypatch):
    gone = api.submit(form["id"], {"email": "zoe@example.com", "note": "call me"})["id"]
    kept = api.submit(form["id"], {"email": "kim@example.com"})["id"]
    real = Collection.delete_many
    ran = []

    def delete_many(self, query, *args, **kwargs):
        result = real(self, query, *args, **kwargs)
        if self.name == SubmissionTerm._meta["collection"] and not ran:
            ran.append(indexer.run_batch())  # the indexer's batch, between the postings and the submission
        return result

    monkeypatch.setattr(Collection, "delete_many", delete_many)
    assert removal.remove([_doc(gone)]).submissions == 1
    assert ran == [2]  # (it found the submission still stored, and wrote its postings)
    assert _postings(gone) == 0 and _postings(kept) > 0


def test_no_batch_runs_while_the_indexer_is_paused_and_the_next_one_does(api, form):
    subs = [api.submit(form["id"], {"email": f"p{i}@example.com"})["id"] for i in range(2)]
    with indexer.paused():
        assert indexer.run_batch() == 0
        assert not any(_postings(s) for s in subs)
        with pytest.raises(TimeoutError), indexer.paused(timeout=0.2):  # one holder at a time
            pass
    assert indexer.run_batch() == 2 and all(_postings(s) for s in subs)


def test_a_pause_whose_holder_stopped_is_taken_over(api, form):
    sub_id = api.submit(form["id"], {"email": "p@example.com"})["id"]
    held = indexer.paused()
    held.__enter__()  # (and never left: its process stopped)
    assert indexer.run_batch() == 0
    assert indexer.run_batch(stale_after=0.0) == 0  # a pass takes the stale hold over (an empty batch) ...
    assert indexer.run_batch() == 1 and _postings(sub_id)  # ... and the next one goes on
    with indexer.paused(timeout=0.5):
        pass
