"""The store keeps every write it acknowledged in a client-level bulkWrite (a submission and its jobs),
while other commands run on the same database (app/store/nx_quiet.py)."""

from __future__ import annotations

import threading

import pymongo
import pytest
from bson import ObjectId
from pymongo import InsertOne
from pymongo.errors import ClientBulkWriteException, InvalidOperation, OperationFailure

from app.store import ATOMIC_BULK_WRITE


def test_acknowledged_bulk_writes_survive_concurrent_commands_on_their_database(store_uri, db_name):
    client = pymongo.MongoClient(store_uri)
    db = client[db_name]
    try:
        client.bulk_write([InsertOne({"_id": ObjectId()}, namespace=f"{db_name}.probe")])
    except InvalidOperation:
        pytest.skip("the store has no client-level bulkWrite (MongoDB before 8.0)")
    acknowledged: list[tuple[ObjectId, ObjectId]] = []
    writing = True

    def write() -> None:
        for _ in range(150):
            pair = (ObjectId(), ObjectId())
            client.bulk_write(
                [
                    InsertOne({"_id": pair[0]}, namespace=f"{db_name}.submissions"),
                    InsertOne({"_id": pair[1], "status": "pending"}, namespace=f"{db_name}.plugin_jobs"),
                ]
            )
            acknowledged.append(pair)

    def count() -> None:  # what the scheduler and the dashboard do meanwhile
        while writing:
            db.plugin_jobs.count_documents({"status": "pending"})

    writers = [threading.Thread(target=write) for _ in range(2)]
    counters = [threading.Thread(target=count) for _ in range(2)]
    for thread in writers + counters:
        thread.start()
    for thread in writers:
        thread.join(60)
    writing = False
    for thread in counters:
        thread.join(60)

    submissions = {doc["_id"] for doc in db.submissions.find({}, {"_id": 1})}
    jobs = {doc["_id"] for doc in db.plugin_jobs.find({}, {"_id": 1})}
    assert len(acknowledged) == 300
    assert [pair for pair in acknowledged if pair[0] not in submissions or pair[1] not in jobs] == []


def test_the_embedded_store_says_its_bulk_writes_are_all_or_nothing_and_keeps_ordered_semantics(
    store_uri, db_name
):
    client = pymongo.MongoClient(store_uri)
    try:
        client.admin.command(ATOMIC_BULK_WRITE)
    except OperationFailure:
        pytest.skip("not the embedded store")
    taken = ObjectId()
    client[db_name].submissions.insert_one({"_id": taken})
    ops = [
        InsertOne({"_id": ObjectId(), "n": 1}, namespace=f"{db_name}.plugin_jobs"),
        InsertOne({"_id": taken}, namespace=f"{db_name}.submissions"),
        InsertOne({"_id": ObjectId(), "n": 2}, namespace=f"{db_name}.plugin_jobs"),
    ]
    with pytest.raises(ClientBulkWriteException) as refused:
        client.bulk_write(ops)

    assert [e["idx"] for e in refused.value.write_errors] == [1]
    assert [d["n"] for d in client[db_name].plugin_jobs.find()] == [1]  # before the failed one: kept
