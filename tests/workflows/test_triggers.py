"""Schedules fire once per due time across processes; inbound calls are checked; limits answer 4xx."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from cryptography.fernet import Fernet

from app.engine.workflow_schedule import fire_due
from app.models import PluginJob, Workflow, WorkflowRun
from app.secrets_box import SecretBox
from plugins.webhook.signing import sign
from tests.conftest import Api
from tests.workflows.conftest import create_workflow, runs_of

SECRET = "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM="
HOOK = [{"name": "hook", "plugin_id": "webhook", "config": {"url": "http://127.0.0.1:9/flow"}}]


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def test_a_cron_due_time_fires_once_when_two_schedulers_race_for_it(make_app):
    apps = [make_app(), make_app()]
    api = Api(apps[0].test_client())
    wf = create_workflow(api, {"type": "schedule", "cron": "0 8 * * *", "timezone": "Europe/Berlin"}, HOOK)
    assert fire_due(apps[0], _at("2026-06-01T05:00:00")) == 0  # the next due time is computed first
    due = Workflow.objects.get(id=wf["id"]).next_fire_at["at"]
    assert due == _at("2026-06-01T06:00:00").timestamp()  # 08:00 in Berlin (summer time)

    for now in ("2026-06-01T06:00:01", "2026-06-02T06:00:03"):  # two due times, each raced for by both
        barrier = threading.Barrier(len(apps))
        started: list[int] = []

        def race(app, now=now, barrier=barrier, started=started):
            barrier.wait()
            started.append(fire_due(app, _at(now)))

        threads = [threading.Thread(target=race, args=(app,)) for app in apps]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert sorted(started) == [0, 1]
        assert fire_due(apps[1], _at(now)) == 0  # looked at again: nothing more

    fired = sorted(
        r["trigger"]["data"]["data"]["fire_time"]
        for r in WorkflowRun.objects(workflow_id=wf["id"]).as_pymongo()
    )
    assert fired == ["2026-06-01T06:00:00.000Z", "2026-06-02T06:00:00.000Z"]
    assert PluginJob.objects(config_id=f"{wf['id']}:hook").count() == 2


def test_a_due_time_missed_while_no_process_ran_fires_when_one_is_back(make_app):
    app = make_app()
    wf = create_workflow(Api(app.test_client()), {"type": "schedule", "cron": "*/5 * * * *"}, HOOK)
    fire_due(app, _at("2026-06-01T10:01:00"))
    assert fire_due(app, _at("2026-06-01T10:07:00")) == 1  # 10:05, missed by two minutes
    assert fire_due(app, _at("2026-06-01T10:07:30")) == 0
    assert WorkflowRun.objects(workflow_id=wf["id"]).count() == 1


@pytest.mark.parametrize(
    ("cron", "timezone"), [
        ("61 * * * *", "UTC"),
        ("* * *", "UTC"),
        ("0 8 * * *", "Mars/Olympus"),
        ("61 * * * * *", "UTC"),
        ("* * * * * * *", "UTC"),
    ]
)
def test_a_schedule_that_cannot_run_is_refused_at_save(api, cron, timezone):
    resp = api.post(
        "/api/workflows", {"name": "x", "trigger": {"type": "schedule", "cron": cron, "timezone": timezone}}
    )
    assert resp.status_code == 422 and "trigger.cron" in resp.json["error"]["details"]
    assert Workflow.objects.count() == 0


def _signed(body: bytes, msg_id: str = "msg_1", secret: str = SECRET, when: float | None = None) -> dict:
    stamp = int(when if when is not None else time.time())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(secret, msg_id, stamp, body),
        "Content-Type": "application/json",
    }


@pytest.fixture
def inbound(api) -> tuple[Api, str]:
    wf = create_workflow(api, {"type": "inbound", "secret": SECRET}, HOOK)
    assert wf["inbound_signed"] and "secret" not in wf["trigger"]
    return wf, wf["inbound_path"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/json"},  # unsigned
        _signed(b'{"n": 2}'),  # signed for another body
        _signed(b'{"n": 1}', secret="whsec_b3RoZXI="),  # another secret
        _signed(b'{"n": 1}', when=time.time() - 3600),  # an old call replayed
        {**_signed(b'{"n": 1}'), "webhook-id": "msg_2"},  # the id changed after signing
        {**_signed(b'{"n": 1}'), "webhook-timestamp": "1" + "0" * 400},  # too big for a float (was a 500)
        {**_signed(b'{"n": 1}'), "webhook-timestamp": "-" + "9" * 400},
    ],
)
def test_an_inbound_call_without_a_valid_signature_is_refused_and_starts_nothing(app, inbound, headers):
    wf, path = inbound
    resp = app.test_client().post(path, data=b'{"n": 1}', headers=headers)
    assert resp.status_code == 401 and resp.json["error"]["code"] == "bad_signature"
    assert WorkflowRun.objects.count() == 0


def test_a_signed_inbound_call_starts_one_run_however_often_it_is_delivered(app, api, inbound):
    wf, path = inbound
    body = b'{"order": 7}'
    first = app.test_client().post(path, data=body, headers=_signed(body))
    again = app.test_client().post(path, data=body, headers=_signed(body))
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json["id"] == again.json["id"]
    assert first.json["trigger"]["data"]["data"] == {"order": 7}
    assert [r["id"] for r in runs_of(api, wf["id"])] == [first.json["id"]]
    assert PluginJob.objects(run_id=first.json["id"]).count() == 1  # its first job, written before the 202


@pytest.mark.parametrize("path", ["/hooks/workflows/nope", "/hooks/workflows/" + "a" * 32])
def test_an_unknown_inbound_url_is_404(app, path):
    assert app.test_client().post(path, json={}).status_code == 404


def test_a_paused_workflows_inbound_url_is_404_and_an_unsigned_one_takes_any_call(app, api):
    wf = create_workflow(api, {"type": "inbound"}, HOOK)
    assert app.test_client().post(wf["inbound_path"], json={"a": 1}).status_code == 202
    api.patch(f"/api/workflows/{wf['id']}", {"status": "paused"})
    assert app.test_client().post(wf["inbound_path"], json={"a": 1}).status_code == 404
    assert (
        app.test_client().post(wf["inbound_path"], data=b"[1]", content_type="application/json").status_code
        == 404
    )


# -- limits ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [21, 50])
def test_more_steps_than_the_limit_is_a_422_and_saves_nothing(api, count):
    steps = [
        {"name": f"s{i}", "plugin_id": "webhook", "config": {"url": "http://127.0.0.1:9/x"}}
        for i in range(count)
    ]
    resp = api.post("/api/workflows", {"name": "x", "trigger": {"type": "manual"}, "steps": steps})
    assert resp.status_code == 422 and "at most 20 steps" in resp.json["error"]["details"]["steps"][0]
    assert Workflow.objects.count() == 0


@pytest.mark.parametrize(
    ("step", "field"),
    [
        (
            {"name": "Bad Name", "plugin_id": "webhook", "config": {"url": "http://127.0.0.1:9/x"}},
            "steps.0.name",
        ),
        ({"name": "a", "plugin_id": "nope", "config": {}}, "steps.0.plugin_id"),
        ({"name": "a", "plugin_id": "webhook", "config": {"url": "not a url"}}, "steps.0.config"),
        ({"name": "a", "plugin_id": "webhook", "config": {"url": "{{ data.url"}}, "steps.0.config"),
        (
            {
                "name": "a",
                "plugin_id": "webhook",
                "config": {"url": "http://x.test/"},
                "condition": {"match": "x"},
            },
            "steps.0.condition",
        ),
    ],
)
def test_a_step_that_cannot_run_is_a_422_naming_it(api, step, field):
    resp = api.post("/api/workflows", {"name": "x", "trigger": {"type": "manual"}, "steps": [step]})
    assert resp.status_code == 422 and field in resp.json["error"]["details"], resp.json
    assert Workflow.objects.count() == 0


def test_runs_past_the_workspaces_limit_per_minute_are_429_and_recorded_as_failed(make_app):
    api = Api(make_app(WORKFLOW_RUNS_PER_MINUTE=2).test_client())
    wf = create_workflow(api, {"type": "manual"}, HOOK)
    codes = [api.post(f"/api/workflows/{wf['id']}/run", {"data": {}}).status_code for _ in range(4)]
    assert codes == [202, 202, 429, 429]
    refused = [r for r in runs_of(api, wf["id"]) if r["status"] == "failed"]
    assert len(refused) == 2 and "more than 2 workflow runs" in refused[0]["error"]
    assert PluginJob.objects(config_id=f"{wf['id']}:hook").count() == 2


def test_a_due_time_between_saving_a_schedule_and_the_first_check_still_fires(make_app):
    app = make_app()
    wf = create_workflow(Api(app.test_client()), {"type": "schedule", "cron": "* * * * *"}, HOOK)
    saved = Workflow.objects.get(id=wf["id"]).updated_at.replace(tzinfo=dt.UTC)
    later = saved + dt.timedelta(seconds=90)  # the scheduler's first look comes after a due minute passed
    assert fire_due(app, later) == 0  # computes the first due time: the minute after the save
    assert fire_due(app, later) == 1
    [run] = WorkflowRun.objects(workflow_id=wf["id"])
    first_due = (saved + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    assert run.trigger["data"]["data"]["fire_time"] == first_due.strftime("%Y-%m-%dT%H:%M:00.000Z")


NEW_SECRET = "whsec_bmV3LXNlY3JldA=="


def _call(app, path: str, secret: str, msg_id: str) -> int:
    body = b'{"n": 1}'
    return app.test_client().post(path, data=body, headers=_signed(body, msg_id, secret)).status_code


def test_a_replaced_inbound_secret_is_accepted_for_a_day_beside_the_new_one(app, api, inbound):
    """Senders switch to a new signing secret over the day after it is set; until then their calls signed
    with the one before still start runs. Once the day is over only the new one does."""
    wf, path = inbound
    changed = api.patch(f"/api/workflows/{wf['id']}", {"trigger": {"type": "inbound", "secret": NEW_SECRET}})
    assert changed.status_code == 200, changed.json
    until = dt.datetime.fromisoformat(changed.json["inbound_previous_secret_until"])
    assert dt.timedelta(hours=23) < until - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=24)
    assert changed.json["inbound_path"] == path and NEW_SECRET not in str(changed.json)
    assert (_call(app, path, SECRET, "m1"), _call(app, path, NEW_SECRET, "m2")) == (202, 202)
    unchanged = api.patch(
        f"/api/workflows/{wf['id']}", {"trigger": {"type": "inbound", "secret": NEW_SECRET}}
    )
    assert unchanged.json["inbound_previous_secret_until"] == changed.json["inbound_previous_secret_until"]
    Workflow.objects(id=wf["id"]).update(
        set__inbound_previous_until=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
    )
    assert (_call(app, path, SECRET, "m3"), _call(app, path, NEW_SECRET, "m4")) == (401, 202)
    assert api.get(f"/api/workflows/{wf['id']}").json["inbound_previous_secret_until"] is None


@pytest.mark.parametrize(
    "change",
    [
        {"type": "inbound", "secret": NEW_SECRET, "new_url": True},  # a leak: new URL and secret at once
        {"type": "inbound", "secret": ""},  # no secret: any call (the one before has nothing left to do)
        {"type": "inbound", "secret": "whsec_dGhpcmQ=", "secret_grace_hours": 0},  # a leak: no grace
        {"type": "manual"},  # not inbound any more
    ],
)
def test_a_new_url_or_no_secret_ends_the_replaced_secrets_grace_at_once(app, api, inbound, change):
    wf, path = inbound
    api.patch(f"/api/workflows/{wf['id']}", {"trigger": {"type": "inbound", "secret": NEW_SECRET}})
    changed = api.patch(f"/api/workflows/{wf['id']}", {"trigger": change})
    assert changed.status_code == 200, changed.json
    assert changed.json["inbound_previous_secret_until"] is None
    stored = Workflow.objects.get(id=wf["id"])
    assert stored.inbound_previous_secret is None
    if change.get("new_url"):
        new_path = changed.json["inbound_path"]
        assert new_path != path and _call(app, path, NEW_SECRET, "m5") == 404
        assert (_call(app, new_path, SECRET, "m6"), _call(app, new_path, NEW_SECRET, "m7")) == (401, 202)


@pytest.mark.parametrize("away", [{"type": "manual"}, {"type": "schedule", "cron": "* * * * *"}])
@pytest.mark.parametrize("rotated_first", [False, True])
def test_back_to_inbound_with_a_new_secret_gives_the_one_before_no_grace(app, api, inbound, away, rotated_first):
    """Coming back to inbound mints a new URL, which (as ``new_url``) ends a replaced secret's grace: the
    secret set before leaving does not sign calls to the new URL beside the new one."""
    wf, path = inbound
    old = SECRET
    if rotated_first:  # leave while a grace runs
        api.patch(f"/api/workflows/{wf['id']}", {"trigger": {"type": "inbound", "secret": NEW_SECRET}})
        old = NEW_SECRET
    left = api.patch(f"/api/workflows/{wf['id']}", {"trigger": away})
    assert left.status_code == 200 and (left.json["inbound_path"], left.json["inbound_signed"]) == (None, False)
    back = api.patch(f"/api/workflows/{wf['id']}", {"trigger": {"type": "inbound", "secret": "whsec_dGhpcmQ="}})
    assert back.status_code == 200, back.json
    new_path = back.json["inbound_path"]
    assert new_path != path and back.json["inbound_previous_secret_until"] is None
    assert Workflow.objects.get(id=wf["id"]).inbound_previous_secret is None
    assert (_call(app, new_path, old, "b1"), _call(app, new_path, "whsec_dGhpcmQ=", "b2")) == (401, 202)


@pytest.mark.parametrize("in_grace", [False, True])
def test_rotate_keys_reseals_workflow_secrets_so_the_old_key_can_go(make_app, in_grace):
    """After ``flask rotate-keys`` the old key is no longer needed: a workflow's signing secret, a replaced
    one in its grace and its steps' secrets are sealed under the new key (not a 500 once the old key is gone)."""
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    old_api = Api(make_app(ENCRYPTION_KEYS=old_key).test_client())
    step = [{**HOOK[0], "config": {**HOOK[0]["config"], "secret": "step-secret-value"}}]
    wf = create_workflow(old_api, {"type": "inbound", "secret": SECRET}, step)
    if in_grace:
        old_api.patch(f"/api/workflows/{wf['id']}", {"trigger": {"type": "inbound", "secret": NEW_SECRET}})
    result = make_app(ENCRYPTION_KEYS=f"{new_key},{old_key}").test_cli_runner().invoke(args=["rotate-keys"])
    assert result.exit_code == 0, result.output
    stored = Workflow._get_collection().find_one({})
    box = SecretBox([new_key])
    assert box.decrypt(stored["steps"][0]["config"]["secret"]) == "step-secret-value"
    new_app, path = make_app(ENCRYPTION_KEYS=new_key), wf["inbound_path"]
    current = NEW_SECRET if in_grace else SECRET
    assert _call(new_app, path, current, "r1") == 202
    if in_grace:
        assert _call(new_app, path, SECRET, "r2") == 202
