"""The first owner: created once (safe with several workers), acted as by requests with ADMIN_TOKEN."""

from __future__ import annotations

import contextlib
import logging

from bson import ObjectId
from flask import Flask
from pymongo.errors import DuplicateKeyError

from app.auth.accounts import password_digest
from app.db import database
from app.models.accounts import Membership, Role, User, Workspace
from app.models.common import utcnow
from app.services import services

log = logging.getLogger(__name__)
BOOTSTRAP_ID = "first_owner"
DEFAULT_WORKSPACE = "Default"


def _claim() -> dict:
    """The bootstrap record naming the first owner and workspace; the first writer's ids win."""
    coll = database()["instance"]
    doc = coll.find_one({"_id": BOOTSTRAP_ID})
    if doc is None:
        try:
            doc = {"_id": BOOTSTRAP_ID, "user_id": str(ObjectId()), "workspace_id": str(ObjectId())}
            coll.insert_one(doc)
        except DuplicateKeyError:
            doc = coll.find_one({"_id": BOOTSTRAP_ID})
    return doc


def _insert_missing(coll, doc: dict, match: dict | None = None) -> None:
    """Insert ``doc`` unless a document matching ``match`` (default: its _id) exists; races are harmless."""
    if coll.find_one(match or {"_id": doc["_id"]}, {"_id": 1}) is None:
        with contextlib.suppress(DuplicateKeyError):
            coll.insert_one(doc)


def ensure_first_owner(email: str, password: str) -> tuple[str, str]:
    """Create (idempotently) the first owner and the default workspace; returns (user_id, workspace_id).

    Every step inserts what is missing, keyed on the claimed ids, so concurrent workers and a crash half-way agree.
    """
    doc = _claim()
    user_id, ws_id = doc["user_id"], doc["workspace_id"]
    now = utcnow()
    _insert_missing(
        Workspace._get_collection(),
        {"_id": ObjectId(ws_id), "name": DEFAULT_WORKSPACE, "created_by": user_id, "created_at": now},
    )
    users = User._get_collection()
    if users.find_one({"_id": ObjectId(user_id)}, {"_id": 1}) is None:
        email = email.strip().lower()
        existing = users.find_one({"email": email}, {"_id": 1})
        if existing is not None:  # created before the first start (e.g. by the CLI): adopt it
            user_id = str(existing["_id"])
            database()["instance"].update_one({"_id": BOOTSTRAP_ID}, {"$set": {"user_id": user_id}})
        else:
            try:
                users.insert_one(
                    {
                        "_id": ObjectId(user_id),
                        "email": email,
                        "name": "Owner",
                        "password_hash": password_digest(password),
                        "active": True,
                        "auth_version": 1,
                        "created_at": now,
                    }
                )
                log.info("created the first owner %s", email)
            except DuplicateKeyError:
                pass  # another worker inserted it
    key = Membership.key_for(ws_id, user_id)
    _insert_missing(
        Membership._get_collection(),
        {"key": key, "user_id": user_id, "workspace_id": ws_id, "role": Role.OWNER.value, "created_at": now},
        match={"key": key},
    )
    return user_id, ws_id


def first_owner(app: Flask) -> User:
    """The user that ADMIN_TOKEN acts as (created on first need when start-up could not)."""
    ids = services(app).first_owner
    user = User.objects(id=ids[0]).first() if ids else None
    if user is None:
        user = User.objects(id=bootstrap(app)[0]).first()
    return user


def default_workspace_id(app: Flask) -> str:
    """The first owner's default workspace."""
    return (services(app).first_owner or bootstrap(app))[1]


def adopt_unowned(workspace_id: str) -> None:
    """Once per database: documents written before workspaces existed join the default workspace."""
    from app.models import Form, PluginConfig, PluginExecutionLog, PluginJob, Submission  # noqa: PLC0415

    instance = database()["instance"]
    if (instance.find_one({"_id": BOOTSTRAP_ID}) or {}).get("adopted_unowned"):
        return
    for model in (Form, Submission, PluginConfig, PluginJob, PluginExecutionLog):
        model._get_collection().update_many({"workspace_id": None}, {"$set": {"workspace_id": workspace_id}})
    instance.update_one({"_id": BOOTSTRAP_ID}, {"$set": {"adopted_unowned": True}})


def bootstrap(app: Flask) -> tuple[str, str]:
    with app.app_context():  # the password's KDF is a setting
        ids = ensure_first_owner(app.config["ADMIN_EMAIL"], app.config["ADMIN_PASSWORD"])
    adopt_unowned(ids[1])
    services(app).first_owner = ids
    return ids
