"""GET /metrics in Prometheus format."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.support.sink import Reply
from tests.support.wait import wait_until


def _samples(client) -> dict:
    text = client.get("/metrics").get_data(as_text=True)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_jobs_by_plugin_and_status(live_api, sink):
    before = _samples(live_api.client)
    replies = iter([Reply(500), Reply(200), Reply(400)])
    sink.responder = lambda req: next(replies)
    form = live_api.create_form()
    live_api.add_plugin(form["id"], "webhook", {"url": sink.url})
    first = live_api.submit(form["id"], {"n": 1})["jobs"][0]
    wait_until(lambda: live_api.job(first)["status"] == "completed", what="first delivered")
    second = live_api.submit(form["id"], {"n": 2})["jobs"][0]
    wait_until(lambda: live_api.job(second)["status"] == "failed", what="second failed")
    plugin = (("plugin", "webhook"),)
    failed = ("formhooks_jobs_failed_total", plugin)
    # (an outcome is counted once its write is done: just after the store shows it)
    wait_until(lambda: _samples(live_api.client).get(failed, 0) > before.get(failed, 0), what="failure counted")
    after = _samples(live_api.client)

    def delta(name):
        return after.get((name, plugin), 0) - before.get((name, plugin), 0)

    assert delta("formhooks_jobs_created_total") == 2
    assert delta("formhooks_jobs_completed_total") == 1
    assert delta("formhooks_jobs_failed_total") == 1
    assert delta("formhooks_jobs_retried_total") == 1
    assert after[("formhooks_jobs", (("status", "completed"),))] == 1
    assert after[("formhooks_jobs", (("status", "failed"),))] == 1
    assert after[("formhooks_circuits", (("state", "closed"),))] == 1
    assert after.get(("formhooks_dispatch_latency_seconds_count", ()), 0) > before.get(
        ("formhooks_dispatch_latency_seconds_count", ()), 0
    )
