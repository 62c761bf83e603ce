"""The MongoDB connection (mongoengine) and index creation."""

from __future__ import annotations

import mongoengine
from flask import Flask
from pymongo import IndexModel
from pymongo.database import Database


def connect(uri: str, db_name: str, timeout_ms: int = 3000) -> None:
    """(Re)connect the default mongoengine alias; fails fast when the store is unreachable."""
    mongoengine.disconnect()
    mongoengine.connect(
        db=db_name,
        host=uri,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms,  # a hung store (partition, stalled primary) costs no operation more
        uuidRepresentation="standard",
        tz_aware=False,
        retryWrites=True,
    )


def database() -> Database:
    return mongoengine.get_db()


def ensure_indexes() -> None:
    """Every model's indexes: one createIndexes per collection (mongoengine would send one per index).
    Collections are taken from the database, not from the models' cached ones: a pass still running while
    the connection is replaced (another app in this process) must not leave a model its old, closed one."""
    from app.models import ALL_MODELS  # noqa: PLC0415

    db = database()
    for model in ALL_MODELS:
        indexes = [
            _index_model(spec, model._meta.get("index_opts") or {}) for spec in model._meta["index_specs"]
        ]
        if indexes:
            db[model._get_collection_name()].create_indexes(indexes)
    from app.engine import rollups  # noqa: PLC0415

    rollups.start_counting()  # (the rollups are read by _id: no index)


def _index_model(spec: dict, defaults: dict) -> IndexModel:
    options = {**defaults, **spec}
    fields = options.pop("fields")
    options.pop("cls", None)  # mongoengine's own option, not the server's
    return IndexModel(fields, **options)


def init_app(app: Flask) -> None:
    if not app.config["MONGODB_URI"]:
        raise RuntimeError(
            "MONGODB_URI is not set. Use `make run` (it starts the embedded store) or point it at MongoDB."
        )
    connect(app.config["MONGODB_URI"], app.config["MONGODB_DB"], app.config["DB_TIMEOUT_MS"])
    try:
        ensure_indexes()
    except Exception:  # the store may be down at start-up; the app still serves 503s and recovers
        app.logger.warning("could not ensure indexes at start-up; will retry on the first scheduler pass")
