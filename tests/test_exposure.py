"""Headers and exposure (security finding 10): admin pages refuse framing and inline script, /metrics is
for the operator, the embedded store's files are the owner's only."""

from __future__ import annotations

import stat

import pymongo

from app.store.embedded import EmbeddedStore
from tests.conftest import ui_login


def test_admin_pages_forbid_framing_sniffing_and_inline_script(app):
    client = ui_login(app)
    for path in (
        "/admin/login",
        "/admin/",
        "/admin/forms",
        "/admin/members",
        "/admin/account",
        "/admin/nope",
    ):
        resp = client.get(path)
        csp = resp.headers["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["script-src"] == "'self'", path  # no 'unsafe-inline', no other origin
        assert directives["frame-ancestors"] == "'none'"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "same-origin"
        html = resp.get_data(as_text=True)
        assert "<script>" not in html and " onclick=" not in html and "javascript:" not in html, path


def test_api_answers_are_not_sniffed_either(api):
    resp = api.get("/api/forms")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_metrics_need_the_metrics_token_when_one_is_set(make_app):
    app = make_app(METRICS_TOKEN="m-secret")
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer m-secret"})
    assert ok.status_code == 200 and "formhooks_jobs" in ok.get_data(as_text=True)


def test_without_a_token_metrics_answer_only_this_host(app):
    client = app.test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 401
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200


def test_the_embedded_store_keeps_its_files_to_its_owner(tmp_path):
    with EmbeddedStore(tmp_path / "store") as store:
        client = pymongo.MongoClient(store.uri, serverSelectionTimeoutMS=5000)
        client["fh_perm"]["things"].insert_one({"secret": "x"})
        client.close()
        paths = [tmp_path / "store", *(tmp_path / "store").rglob("*")]
        assert len(paths) > 2
        for path in paths:
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode & 0o077 == 0, (path.name, oct(mode))
