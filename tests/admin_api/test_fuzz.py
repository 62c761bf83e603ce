"""Property-based fuzz (security finding 9), on a bounded budget for CI: every JSON endpoint with
schemathesis' negative (invalid) inputs, every admin page with Hypothesis-made query strings. Never a 5xx,
and an answer in the 4xx range leaves the store exactly as it was."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlencode

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from app.db import database
from app.services import services
from tests.admin_api.test_openapi import _world
from tests.conftest import ADMIN_TOKEN, ui_login

WRITE_EXAMPLES = 6  # per write operation
PAGE_EXAMPLES = 12  # per admin page
UNSAFE = {"POST", "PATCH", "PUT", "DELETE"}
# Written by design whatever the answer: when a token or session was last used, short-lived locks, and
# the counters of rate-limited attempts (a refused login attempt still counts).
VOLATILE_FIELDS = {"api_tokens": {"last_used_at"}, "login_sessions": {"last_seen"}}
VOLATILE_COLLECTIONS = {"locks", "rate_limits"}
BUDGET = settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)


def store_fingerprint() -> str:
    """A digest of every document in the test's database (minus the fields reads may touch)."""
    db = database()
    digest = hashlib.sha256()
    for name in sorted(db.list_collection_names()):
        if name in VOLATILE_COLLECTIONS:
            continue
        drop = VOLATILE_FIELDS.get(name, set())
        rows = sorted(
            json.dumps({k: v for k, v in doc.items() if k not in drop}, default=str, sort_keys=True)
            for doc in db[name].find({})
        )
        digest.update(name.encode() + b"\0" + "\n".join(rows).encode())
    return digest.hexdigest()


class LastFingerprint:
    """The store's fingerprint, taken again only when a request may have changed the store: after an answer
    that was checked to change nothing, the fingerprint taken after it is the next one's "before"."""

    def __init__(self) -> None:
        self.known: str | None = None

    def before(self) -> str:
        if self.known is None:
            self.known = store_fingerprint()
        return self.known

    def unchanged_since(self, before: str) -> bool:
        """Whether the store is as it was; its fingerprint is kept for the next request."""
        self.known = store_fingerprint()
        return self.known == before


@pytest.mark.heavy(seconds=19)
def test_invalid_input_to_any_json_endpoint_is_a_4xx_that_writes_nothing(app, api, people):
    ids = _world(api, people)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    operations = [r.ok() for r in schema.get_all_operations() if r.ok().method.upper() in UNSAFE]
    assert len(operations) >= 20
    operations.sort(key=lambda op: (op.method.upper() == "DELETE", op.path))
    last = LastFingerprint()
    for operation in operations:
        _fuzz_operation(app, operation, ids, headers, last)


def _fuzz_operation(
    app, operation, ids: dict[str, str], headers: dict[str, str], last: LastFingerprint
) -> None:
    where = (operation.method.upper(), operation.path)

    @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    @settings(BUDGET, max_examples=WRITE_EXAMPLES)
    def check(case):
        for name in case.path_parameters or {}:
            if name in ids and operation.path != "/api/plugins/{plugin_id}/test":
                case.path_parameters[name] = ids[name]
        services(app).markers.flush()  # earlier accepted posts' markers, cleared in the background
        before = last.before()
        last.known = None  # until this request is checked to have changed nothing
        resp = case.call(headers=headers)
        assert resp.status_code < 500, (*where, resp.status_code, resp.text[:300])
        if 400 <= resp.status_code < 500:
            assert last.unchanged_since(before), (*where, resp.status_code, resp.text[:300])

    check()


QUERY_NAMES = ["page", "from", "to", "view", "status", "range", "form_id", "config_id", "before", "workspace"]
QUERY_VALUES = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.dates().map(str),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M")),
    st.sampled_from(["jobs", "attempts", "failed", "7d", "all", "%", "\\", "\r\n", "\x00"]),
)
QUERIES = st.dictionaries(st.sampled_from(QUERY_NAMES) | st.text(max_size=8), QUERY_VALUES, max_size=5)


def _admin_pages(app, ids: dict[str, str]) -> list[str]:
    pages = []
    for rule in app.url_map.iter_rules():
        if (
            not rule.rule.startswith("/admin")
            or "GET" not in rule.methods
            or rule.endpoint.endswith("static")
        ):
            continue
        if set(rule.arguments) - set(ids):
            continue
        url = rule.rule
        for name in rule.arguments:
            url = url.replace(f"<{name}>", ids[name])
        pages.append(url)
    return sorted(pages)


@pytest.mark.heavy(seconds=15)
def test_any_query_string_on_any_admin_page_is_answered_without_a_5xx_or_a_write(app, api, people):
    ids = _world(api, people)
    client = ui_login(app)
    pages = _admin_pages(app, ids)
    assert "/admin/executions" in pages and len(pages) >= 8

    last = LastFingerprint()
    for page in pages:
        _fuzz_page(client, page, last)


def _fuzz_page(client, page: str, last: LastFingerprint) -> None:
    @given(query=QUERIES)
    @settings(BUDGET, max_examples=PAGE_EXAMPLES)
    def check(query):
        before = last.before()
        last.known = None
        resp = client.get(f"{page}?{urlencode(query)}")
        assert resp.status_code < 500, (page, query, resp.status_code)
        assert last.unchanged_since(before), (page, query)

    check()
