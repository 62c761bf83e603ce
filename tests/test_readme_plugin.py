"""The plugin in the README's "Writing a plugin" section works as printed (a third party copies it)."""

from __future__ import annotations

import re
import types
from pathlib import Path

from app.services import services
from tests.conftest import Api
from tests.support.wait import wait_until

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_plugin() -> types.ModuleType:
    text = README.read_text()
    code = re.search(r"```python\n(# my_formhooks_plugin/__init__\.py\n.*?)```", text, re.S).group(1)
    module = types.ModuleType("my_formhooks_plugin")
    exec(compile(code, "README.md", "exec"), module.__dict__)
    return module


def test_the_readme_plugin_registers_tests_and_delivers(make_app, sink):
    plugin_cls = _readme_plugin().NotifyPlugin
    app = make_app(SCHEDULER_ENABLED=True)
    services(app).plugins.register(plugin_cls, "README")
    api = Api(app.test_client())

    described = api.get("/api/plugins/notify").json
    assert described["secret_fields"] == ["api_key"]
    assert described["rate_limit"] == {"calls": 10, "period": 1.0}
    bad = api.post("/api/plugins/notify/test", {"config": {"endpoint": sink.url, "api_key": "wrong"}}).json
    assert bad["success"] is False and "nk_" in bad["message"]

    form = api.create_form()
    api.add_plugin(form["id"], "notify", {"endpoint": sink.url, "api_key": "nk_123", "priority": "high"})
    job_id = api.submit(form["id"], {"email": "ada@example.com"})["jobs"][0]
    [req] = sink.wait_for(1)
    assert req.json() == {"data": {"email": "ada@example.com"}, "priority": "high"}
    assert req.headers["authorization"] == "Bearer nk_123"
    assert req.headers["idempotency-key"] == f"msg_{job_id}"
    wait_until(lambda: api.job(job_id)["status"] == "completed", what="job completed")
