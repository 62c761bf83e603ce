"""``flask rebuild-rollups`` notes each integration's latest attempt in a fixed number of reads, and the
helpers that cut streams and whole collections into bounded lists."""

from __future__ import annotations

import datetime as dt

import pytest
from bson import ObjectId
from pymongo.collection import Collection

from app.chunks import chunks, id_pages
from app.engine import rollup_rebuild, rollups
from app.models import PluginConfig, PluginExecutionLog

T0 = dt.datetime(2026, 3, 1, 12, 0, 0, 250000)


def _log(config_id: str, at: dt.datetime, status: str, **extra) -> ObjectId:
    doc = {
        "job_id": str(ObjectId()),
        "config_id": config_id,
        "attempt": 1,
        "status": status,
        "executed_at": at,
    }
    return PluginExecutionLog._get_collection().insert_one({**doc, **extra}).inserted_id


@pytest.fixture
def reads(monkeypatch):
    """The reads of the execution logs, by kind (a ``find_one`` is a ``find`` too)."""
    counted: dict[str, int] = {}
    for name in ("find", "find_one", "aggregate", "count_documents"):
        real = getattr(Collection, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):
            if self.name == PluginExecutionLog._meta["collection"]:
                counted[_name] = counted.get(_name, 0) + 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(Collection, name, spy)
    return counted


@pytest.mark.parametrize("integrations", [1, 4, 12])
def test_the_rebuild_notes_each_integration_s_latest_attempt_in_two_reads(app, reads, integrations):
    configs = [str(ObjectId()) for _ in range(integrations + 1)]  # (the last one never ran)
    for cid in configs:
        PluginConfig._get_collection().insert_one(
            {"_id": ObjectId(cid), "form_id": "f", "plugin_id": "webhook", "name": cid}
        )
    expected = {}
    for n, cid in enumerate(configs[:-1]):
        latest = T0 + dt.timedelta(minutes=n)
        _log(cid, latest - dt.timedelta(seconds=30), "success")
        if n:  # an older attempt at the time of another integration's latest: not this one's
            _log(cid, T0, "failed", error_message="old")
        _log(cid, latest, "failed", error_message="first of two at the same moment")
        expected[cid] = _log(cid, latest, "success")  # the same moment, written last: the latest
    reads.clear()
    done = rollup_rebuild.rebuild()
    during = dict(reads)
    assert done.integrations == integrations + 1
    stored = {d["_id"]: d for d in rollups.collection().find({"kind": "latest"})}
    assert set(stored) == set(expected)
    for cid, log_id in expected.items():
        assert (
            stored[cid]["job_id"] == PluginExecutionLog._get_collection().find_one({"_id": log_id})["job_id"]
        )
        assert stored[cid]["status"] == "success" and not stored[cid].get("error_message")
    assert sum(during.values()) <= 2, during  # whatever the number of integrations


@pytest.mark.parametrize("late", [1, 3])
def test_an_attempt_written_after_a_later_one_is_not_taken_for_the_latest(app, reads, late):
    configs = [str(ObjectId()) for _ in range(4)]
    expected = {cid: _log(cid, T0 + dt.timedelta(minutes=n), "success") for n, cid in enumerate(configs)}
    for cid in configs[:late]:  # (a long attempt that started earlier and was written last)
        _log(cid, T0 - dt.timedelta(minutes=5), "failed", error_message="started earlier, written later")
    reads.clear()
    rollup_rebuild.rebuild()
    during = dict(reads)
    stored = {d["_id"]: d for d in rollups.collection().find({"kind": "latest"})}
    logs = PluginExecutionLog._get_collection()
    assert {cid: d["job_id"] for cid, d in stored.items()} == {
        cid: logs.find_one({"_id": log_id})["job_id"] for cid, log_id in expected.items()
    }
    assert sum(during.values()) <= 2 + 2 * late, during  # (each such integration looked up on its own)


def test_the_rebuild_without_any_attempt_notes_nothing(app):
    PluginConfig._get_collection().insert_one({"form_id": "f", "plugin_id": "webhook", "name": "n"})
    assert rollup_rebuild.rebuild().integrations == 1
    assert rollups.collection().count_documents({"kind": "latest"}) == 0


@pytest.mark.parametrize(
    ("items", "size", "expected"),
    [
        ([], 3, []),
        ([1, 2], 3, [[1, 2]]),
        ([1, 2, 3], 3, [[1, 2, 3]]),
        ([1, 2, 3, 4, 5, 6, 7], 3, [[1, 2, 3], [4, 5, 6], [7]]),
        (range(5), 1, [[0], [1], [2], [3], [4]]),
        (iter("abcde"), 2, [["a", "b"], ["c", "d"], ["e"]]),
    ],
)
def test_chunks_cut_a_stream_in_order_into_bounded_lists(items, size, expected):
    assert list(chunks(items, size)) == expected


@pytest.mark.parametrize("size", [0, -1])
def test_chunks_refuse_an_empty_size(size):
    with pytest.raises(ValueError):
        list(chunks([1], size))


@pytest.mark.parametrize(("count", "size"), [(0, 3), (7, 3), (9, 3), (5, 10)])
def test_id_pages_read_a_whole_collection_once_in_bounded_reads(app, count, size):
    coll = PluginConfig._get_collection()
    ids = [coll.insert_one({"plugin_id": "webhook", "n": n}).inserted_id for n in range(count)]
    pages = list(id_pages(coll, {"n": 1}, size))
    assert all(0 < len(page) <= size for page in pages)
    assert [doc["_id"] for page in pages for doc in page] == sorted(ids)
    assert all(set(doc) == {"_id", "n"} for page in pages for doc in page)



@pytest.mark.parametrize("size", [0, -1, -5000])
def test_id_pages_and_the_rebuild_refuse_an_empty_batch(app, size):
    """A batch of 0 was a read without a limit (the whole collection at once, what id_pages is for
    avoiding); the command says so before it empties anything."""
    coll = PluginConfig._get_collection()
    for n in range(3):
        coll.insert_one({"plugin_id": "webhook", "n": n})
    with pytest.raises(ValueError):
        list(id_pages(coll, {"n": 1}, size))
    result = app.test_cli_runner().invoke(args=["rebuild-rollups", "--batch", str(size)])
    assert result.exit_code == 2 and "--batch" in result.output
