"""Group commit: concurrent inserts share one write, and each caller gets only its own errors."""

from __future__ import annotations

import threading

import pymongo
import pytest
from bson import ObjectId
from pymongo.errors import AutoReconnect, BulkWriteError, DuplicateKeyError, InvalidOperation

from app.engine import group_commit, write_unit
from app.engine.group_commit import GroupInsert, Part
from app.engine.write_unit import WriteUnit
from app.models import PluginJob, Submission
from app.services import services
from tests.support.wait import wait_until


class HeldCollection:
    """The real collection, whose first insert waits until ``release`` (so that others queue behind it)."""

    def __init__(self, fail_with: Exception | None = None):
        self.coll = Submission._get_collection()
        self.writes: list[int] = []
        self.release = threading.Event()
        self.fail_with = fail_with

    def insert_many(self, docs, ordered=True):
        self.writes.append(len(docs))
        if len(self.writes) == 1:
            self.release.wait(10)
        elif self.fail_with is not None:
            raise self.fail_with
        return self.coll.insert_many(docs, ordered=ordered)


def _bulk_writes(
    monkeypatch, supported: bool = True, first_waits: threading.Event | None = None
) -> list[list[dict]]:
    """The documents of each client-level bulkWrite from now on (``supported`` false: refused, as by
    MongoDB before 8.0; ``first_waits``: the first waits for it before it is sent)."""
    sent: list[list[dict]] = []
    real_bulk_write = pymongo.MongoClient.bulk_write

    def bulk_write(client, models, **kwargs):
        if not supported:
            raise InvalidOperation("MongoClient.bulk_write requires MongoDB server version 8.0+.")
        sent.append([model._doc for model in models])
        if first_waits is not None and len(sent) == 1:
            first_waits.wait(10)
        return real_bulk_write(client, models, **kwargs)

    monkeypatch.setattr(pymongo.MongoClient, "bulk_write", bulk_write)
    return sent


def _callers(
    group: GroupInsert, docs: list[dict]
) -> tuple[list[threading.Thread], dict[int, Exception | None]]:
    results: dict[int, Exception | None] = {}

    def call(i: int) -> None:
        try:
            group.insert_one(docs[i])
            results[i] = None
        except Exception as exc:  # noqa: BLE001  (the test looks at which caller got what)
            results[i] = exc

    return [threading.Thread(target=call, args=(i,)) for i in range(len(docs))], results


def _run_while_first_write_is_held(held: HeldCollection, group: GroupInsert, docs: list[dict]):
    threads, results = _callers(group, docs)
    threads[0].start()
    wait_until(lambda: held.writes, what="the first write under way")
    for t in threads[1:]:
        t.start()
    wait_until(lambda: len(group._waiting) == len(docs) - 1, what="the others queued behind it")
    held.release.set()
    for t in threads:
        t.join(10)
    return results


def test_callers_that_arrive_during_a_write_share_the_next_one(app):
    held = HeldCollection()
    group = GroupInsert(lambda: held)
    docs = [{"_id": ObjectId(), "n": i} for i in range(5)]

    results = _run_while_first_write_is_held(held, group, docs)

    assert results == {i: None for i in range(5)}
    assert held.writes == [1, 4]
    assert Submission._get_collection().count_documents({"n": {"$gte": 0}}) == 5


def test_a_duplicate_fails_only_the_caller_that_sent_it(app):
    taken = ObjectId()
    Submission._get_collection().insert_one({"_id": taken, "n": -1})
    held = HeldCollection()
    group = GroupInsert(lambda: held)
    docs = [
        {"_id": ObjectId(), "n": 0},
        {"_id": ObjectId(), "n": 1},
        {"_id": taken, "n": 2},
        {"_id": ObjectId(), "n": 3},
    ]

    results = _run_while_first_write_is_held(held, group, docs)

    assert isinstance(results[2], DuplicateKeyError)
    assert [results[i] for i in (0, 1, 3)] == [None, None, None]
    assert sorted(d["n"] for d in Submission._get_collection().find({"n": {"$gte": 0}})) == [0, 1, 3]


def test_a_failed_write_fails_every_caller_in_it_and_the_next_caller_writes_again(app):
    held = HeldCollection(fail_with=AutoReconnect("the store went away"))
    group = GroupInsert(lambda: held)
    docs = [{"_id": ObjectId(), "n": i} for i in range(3)]

    results = _run_while_first_write_is_held(held, group, docs)

    assert results[0] is None
    assert [type(results[i]) for i in (1, 2)] == [AutoReconnect, AutoReconnect]
    held.fail_with = None
    group.insert_one({"_id": ObjectId(), "n": 9})  # the group is free again: no caller is left waiting
    assert Submission._get_collection().count_documents({"n": 9}) == 1


@pytest.mark.parametrize("size", [1, 3])
def test_a_caller_alone_writes_at_once(app, size):
    writes: list[int] = []
    coll = Submission._get_collection()

    class Counting:
        def insert_many(self, docs, ordered=True):
            writes.append(len(docs))
            return coll.insert_many(docs, ordered=ordered)

    GroupInsert(Counting).insert([{"_id": ObjectId()} for _ in range(size)])
    assert writes == [size]


@pytest.mark.parametrize("client_bulk", [True, False], ids=["bulkWrite", "MongoDB before 8.0"])
def test_a_submission_and_another_requests_jobs_share_one_group_and_keep_their_own_errors(
    app, monkeypatch, client_bulk
):
    held = HeldCollection()
    group = GroupInsert(lambda: held)
    sent = _bulk_writes(monkeypatch, supported=client_bulk)
    taken = ObjectId()
    PluginJob._get_collection().insert_one({"_id": taken})
    submission = {"_id": ObjectId(), "n": 0}
    results: dict[str, Exception | None] = {}

    def call(who: str, docs: list[dict], collection) -> None:
        try:
            group.insert(docs, collection)
            results[who] = None
        except Exception as exc:  # noqa: BLE001  (the test looks at which caller got what)
            results[who] = exc

    first = threading.Thread(target=call, args=("first", [{"_id": ObjectId(), "n": -1}], None))
    first.start()
    wait_until(lambda: held.writes, what="the first write under way")
    others = [
        threading.Thread(target=call, args=("submission", [submission], Submission._get_collection)),
        threading.Thread(
            target=call, args=("jobs", [{"_id": ObjectId()}, {"_id": taken}], PluginJob._get_collection)
        ),
    ]
    for t in others:
        t.start()
    wait_until(lambda: len(group._waiting) == 2, what="both queued behind it")
    held.release.set()
    for t in [first, *others]:
        t.join(10)

    assert [len(docs) for docs in sent] == (
        [3] if client_bulk else []
    )  # one client-level bulkWrite for both collections
    assert results["first"] is None and results["submission"] is None
    assert [e["index"] for e in results["jobs"].details["writeErrors"]] == [1]  # its own second document
    assert Submission._get_collection().find_one({"_id": submission["_id"]}) is not None
    assert group._client_bulk is client_bulk


@pytest.mark.parametrize("client_bulk", [True, False], ids=["bulkWrite", "MongoDB before 8.0"])
def test_a_callers_jobs_are_written_only_if_its_submission_is(app, monkeypatch, client_bulk):
    """Two requests in one group, each a submission then its jobs: A's submission is refused (its id is
    taken), so A's jobs are not written; B's submission and jobs are, after A's in the same write."""
    held = HeldCollection()
    group = GroupInsert(lambda: held)
    sent = _bulk_writes(monkeypatch, supported=client_bulk)
    taken = ObjectId()
    Submission._get_collection().insert_one({"_id": taken, "n": -1})

    def request(sub_id: ObjectId) -> list[Part]:
        return [
            Part(Submission._get_collection, [{"_id": sub_id}]),
            Part(
                PluginJob._get_collection,
                [{"_id": ObjectId(), "of": str(sub_id)}, {"_id": ObjectId(), "of": str(sub_id)}],
            ),
        ]

    a, b = request(taken), request(ObjectId())
    first = threading.Thread(target=group.insert, args=([{"_id": ObjectId(), "n": 0}],))
    first.start()
    wait_until(lambda: held.writes, what="the first write under way")
    others = [threading.Thread(target=group.write, args=(parts,)) for parts in (a, b)]
    for t in others:
        t.start()
    wait_until(lambda: len(group._waiting) == 2, what="both queued behind it")
    held.release.set()
    for t in [first, *others]:
        t.join(10)

    assert isinstance(a[0].error, BulkWriteError) and a[0].error.details["writeErrors"][0]["code"] == 11000
    assert a[1].skipped and PluginJob._get_collection().count_documents({"of": str(taken)}) == 0
    assert b[0].written and b[1].written
    assert PluginJob._get_collection().count_documents({"of": str(b[0].docs[0]["_id"])}) == 2
    # one bulkWrite stopped at A's submission; one more for what came after it: B's parts, together
    assert len(sent) == (2 if client_bulk else 0)


def test_a_submission_and_its_jobs_alone_are_one_write(app, monkeypatch):
    sent = _bulk_writes(monkeypatch)
    sub_id = ObjectId()
    parts = [
        Part(Submission._get_collection, [{"_id": sub_id}]),
        Part(PluginJob._get_collection, [{"_id": ObjectId(), "of": str(sub_id)}]),
        Part(PluginJob._get_collection, []),  # (an event no integration subscribes to: nothing to write)
    ]

    GroupInsert(Submission._get_collection).write(parts)

    assert [len(docs) for docs in sent] == [2] and all(part.written for part in parts)
    assert PluginJob._get_collection().count_documents({"of": str(sub_id)}) == 1


def test_a_callers_parts_are_never_split_between_two_commands(app, monkeypatch):
    """Callers whose documents together pass one command's size each go whole into the next command."""
    monkeypatch.setattr(group_commit, "COMMAND_BYTES", 100)
    held = HeldCollection()
    group = GroupInsert(lambda: held)
    sent = _bulk_writes(monkeypatch)

    def request(who: str) -> list[Part]:
        return [
            Part(Submission._get_collection, [{"_id": ObjectId(), "who": who}]),
            Part(
                PluginJob._get_collection, [{"_id": ObjectId(), "who": who}, {"_id": ObjectId(), "who": who}]
            ),
        ]

    callers = {who: request(who) for who in "abc"}
    first = threading.Thread(target=group.insert, args=([{"_id": ObjectId(), "n": 0}],))
    first.start()
    wait_until(lambda: held.writes, what="the first write under way")
    others = [threading.Thread(target=group.write, args=(parts, 60)) for parts in callers.values()]
    for queued, t in enumerate(others, start=1):  # (one at a time, so that they queue in this order)
        t.start()
        wait_until(lambda n=queued: len(group._waiting) == n, what="queued")
    held.release.set()
    for t in [first, *others]:
        t.join(10)

    assert [[doc["who"] for doc in docs] for docs in sent] == [
        ["a"] * 3,
        ["b"] * 3,
        ["c"] * 3,
    ]  # 60 + 60 bytes would pass the 100
    assert all(part.written for parts in callers.values() for part in parts)


def test_a_unit_too_large_for_one_command_never_shares_one_with_another(app, monkeypatch):
    """pymongo splits a command past the store's message size: a unit that may not fit (written with its
    marker) goes alone, so another request's submission and jobs, written without a marker, stay in one."""
    for module in (group_commit, write_unit):
        monkeypatch.setattr(module, "COMMAND_BYTES", 100_000)
    release = threading.Event()
    sent = _bulk_writes(monkeypatch, first_waits=release)

    def unit(who: str, data_bytes: int) -> WriteUnit:
        made = WriteUnit(app, data_bytes)
        made.add(services(app).inserts.submissions, [{"_id": ObjectId(), "who": who}])
        made.add(services(app).inserts.jobs, [{"_id": ObjectId(), "who": who}])
        return made

    units = {"first": unit("first", 0), "big": unit("big", 20_000), "small": unit("small", 0)}
    threads = {who: threading.Thread(target=made.commit) for who, made in units.items()}
    threads["first"].start()
    wait_until(lambda: sent, what="the first write under way")
    for queued, who in enumerate(("big", "small"), start=1):
        threads[who].start()
        wait_until(lambda n=queued: len(units["first"].group._waiting) == n, what="queued")
    release.set()
    for t in threads.values():
        t.join(10)

    assert [[doc["who"] for doc in docs] for docs in sent] == [["first"] * 2, ["big"] * 2, ["small"] * 2]
    assert all(part.written for made in units.values() for part in made.parts)
