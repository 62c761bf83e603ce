"""A third attack on workflows (issue 24): another workspace reaching for a workflow's runs or its inbound
URL, a workspace making the shared engine slower, and the promises a user relies on (cancel, retry,
replay, limits). Each finding a test that failed before its fix."""

from __future__ import annotations

import time

import pytest

from app.models import PluginJob, WorkflowRun
from tests.conftest import Api
from tests.workflows.conftest import create_workflow
from tests.workflows.test_triggers import HOOK, SECRET, _signed


@pytest.mark.parametrize(
    "signature",
    ["v1,\u00e9t\u00e9", "v1,caf\u00e9 v1,abc", "\u00ff"],
)
def test_an_inbound_signature_header_with_non_ascii_text_is_a_401_not_a_500(app, api, signature):
    wf = create_workflow(api, {"type": "inbound", "secret": SECRET}, HOOK)
    body = b'{"n": 1}'
    headers = {**_signed(body), "webhook-signature": signature}
    resp = app.test_client().post(wf["inbound_path"], data=body, headers=headers)
    assert resp.status_code == 401 and resp.json["error"]["code"] == "bad_signature", resp.data[:300]
    assert WorkflowRun.objects.count() == 0
