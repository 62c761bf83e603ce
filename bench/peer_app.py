"""The end-to-end peer: what a team would write instead of Formhooks, kept that small.

A Flask view stores the submission in the same store (pymongo) and enqueues one RQ job per webhook, which
RQ ``SimpleWorker``s run (``bench/rq_task.py:deliver``, the same signed POST to the same sink). Served by
gunicorn like the app (``bench.peer_app:app``); settings from the environment: ``MONGODB_URI``,
``MONGODB_DB``, ``REDIS_URL``, ``SINK_URL``, ``PEER_HOOKS`` (webhooks per submission, 1 by default).
"""

from __future__ import annotations

import datetime as dt
import os

from bson import ObjectId
from flask import Flask, jsonify, request
from pymongo import MongoClient
from redis import Redis
from rq import Queue

from bench.rq_task import QUEUE, deliver

app = Flask(__name__)
submissions = MongoClient(os.environ["MONGODB_URI"])[os.environ["MONGODB_DB"]]["submissions"]
queue = Queue(QUEUE, connection=Redis.from_url(os.environ["REDIS_URL"]))
sink_url = os.environ["SINK_URL"]
hooks = int(os.environ.get("PEER_HOOKS", "1"))


@app.get("/readyz")
def ready():
    return "ok"


@app.post("/api/forms/<form_id>/submissions")
def submit(form_id: str):
    data = (request.get_json(silent=True) or {}).get("data")
    if not isinstance(data, dict):
        return jsonify(error="data must be an object"), 422
    sub = {"_id": ObjectId(), "form_id": form_id, "data": data, "created_at": dt.datetime.now(dt.UTC)}
    submissions.insert_one(sub)
    body = {"event": "form.submitted", "form_id": form_id, "submission_id": str(sub["_id"]), "data": data}
    jobs = [
        queue.enqueue(deliver, f"{sink_url}?config={n}", f"msg_{sub['_id']}_{n}", body, result_ttl=600)
        for n in range(hooks)
    ]
    return jsonify(id=str(sub["_id"]), jobs=[job.id for job in jobs]), 202
