"""The embedded store's patch (app/store/nx_quiet.py) is applied only to the nx-27017 it was written for,
and an nx-27017 without it is recognised and never sent a client-level bulkWrite (which can lose writes it
acknowledged there)."""

from __future__ import annotations

import logging
import os
import textwrap

import pymongo
import pytest
from bson import ObjectId
from nx_27017 import handler

from app.engine.group_commit import GroupInsert, Part
from app.store import ATOMIC_BULK_WRITE, nx_quiet
from app.store.embedded import EmbeddedStore
from app.store.traits import EMBEDDED, MONGODB, UNPATCHED_NX, store_traits


def test_the_installed_nx_27017_is_the_one_the_patch_was_written_for():
    assert nx_quiet.mismatches() == []


def _other_signature(self, request_id, cmd):
    return None


def _no_lock_choice(self, msg):
    return None


@pytest.mark.parametrize(
    ("path", "replacement", "named"),
    [
        ("_msg_db_name", None, "_msg_db_name is missing"),
        ("_msg_db_name", lambda msg, default: "test", "_msg_db_name takes"),
        ("NeoSQLiteHandler._handle_bulk_write", _other_signature, "_handle_bulk_write takes"),
        ("NeoSQLiteHandler._handle_bulk_write", None, "_handle_bulk_write is missing"),
        ("NeoSQLiteHandler.handle_command", _no_lock_choice, "chooses its lock"),
        ("NeoSQLiteHandler.get_database", lambda self, name, create: None, "get_database takes"),
    ],
)
def test_a_changed_internal_is_refused_and_nothing_is_patched(monkeypatch, caplog, path, replacement, named):
    owner_path, _, name = path.rpartition(".")
    owner = getattr(handler, owner_path) if owner_path else handler
    monkeypatch.setattr(owner, name, replacement)
    untouched = {k: getattr(handler.NeoSQLiteHandler, k) for k in ("_handle_bulk_write", "handle_command")}
    lock = handler._msg_db_name

    with caplog.at_level(logging.WARNING, logger="nx-27017"):
        assert nx_quiet.install() is False
    assert any(named in m for m in nx_quiet.mismatches()), nx_quiet.mismatches()
    assert "NOT made atomic" in caplog.text and named in caplog.text
    assert handler._msg_db_name is lock
    assert {k: getattr(handler.NeoSQLiteHandler, k) for k in untouched} == untouched


@pytest.mark.parametrize("package", ["nx-27017", "neosqlite"])
def test_another_version_is_refused(monkeypatch, package):
    monkeypatch.setitem(nx_quiet.TESTED, package, "0.0.1")
    assert nx_quiet.install() is False
    assert [m for m in nx_quiet.mismatches() if m.startswith(package)]


@pytest.fixture
def plain_nx(tmp_path):
    """An nx-27017 started the plain way, as someone would for MONGODB_URI."""
    store = EmbeddedStore(tmp_path / "plain", launcher="nx_27017.nx_27017").start()
    yield store
    store.stop()


@pytest.fixture
def mismatched_launcher(tmp_path, monkeypatch):
    """The app's launcher, run where nx-27017's bulkWrite handler is not what the patch expects."""
    (tmp_path / "other_nx.py").write_text(
        textwrap.dedent(
            """
            import runpy
            from nx_27017 import handler

            original = handler.NeoSQLiteHandler._handle_bulk_write
            handler.NeoSQLiteHandler._handle_bulk_write = lambda self, request_id, cmd, doc, extra=None: (
                original(self, request_id, cmd, doc)
            )
            runpy.run_module("app.store.nx_quiet", run_name="__main__", alter_sys=True)
            """
        )
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    store = EmbeddedStore(tmp_path / "store", launcher="other_nx").start()
    yield store
    store.stop()


def test_the_launcher_does_not_claim_atomic_writes_where_it_could_not_patch(mismatched_launcher):
    client = pymongo.MongoClient(mismatched_launcher.uri)
    assert client.admin.command(ATOMIC_BULK_WRITE).get("atomic") is not True
    assert store_traits(client) == UNPATCHED_NX
    log = (mismatched_launcher.data_dir / "nx-27017.log").read_text()
    assert "NOT made atomic" in log and "_handle_bulk_write takes" in log


def test_the_embedded_store_and_mongodb_are_told_apart_from_an_unpatched_nx(store_uri, plain_nx):
    expected = EMBEDDED if "FORMHOOKS_TEST_STORE_URI" in os.environ else MONGODB
    assert store_traits(pymongo.MongoClient(store_uri)) == expected
    assert store_traits(pymongo.MongoClient(plain_nx.uri)) == UNPATCHED_NX


def test_an_unpatched_nx_store_is_never_sent_a_client_bulk_write(plain_nx, monkeypatch, caplog):
    db = pymongo.MongoClient(plain_nx.uri)["formhooks_plain"]
    sent = []
    monkeypatch.setattr(pymongo.MongoClient, "bulk_write", lambda *a, **k: sent.append(a))
    group = GroupInsert(lambda: db.submissions)

    with caplog.at_level(logging.WARNING, logger="app.store.traits"):
        assert group.atomic() is False  # so a submission and its jobs keep their marker
        submission, jobs = {"_id": ObjectId()}, [{"_id": ObjectId()}, {"_id": ObjectId()}]
        group.write([Part(lambda: db.submissions, [submission]), Part(lambda: db.plugin_jobs, jobs)])

    assert sent == []
    assert db.submissions.count_documents({}) == 1 and db.plugin_jobs.count_documents({}) == 2
    assert "nx-27017 that Formhooks did not start" in caplog.text
