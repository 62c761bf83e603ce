"""Secrets at rest and in records: encrypted in the store, never returned, and scrubbed from execution
logs, job errors, test results and Python logs even when a plugin puts them in its messages."""

from __future__ import annotations

import json
import logging

from bson import json_util
from marshmallow import Schema, fields

from app.contract import ExecutionResult, Plugin, PluginError, Secret, TestResult
from app.db import database
from app.secret_scrub import install_log_filter
from app.services import services
from tests.conftest import Api
from tests.support.wait import wait_until

API_KEY = "sk_live_TOPSECRET_1234567890"
WEBHOOK_SECRET = "whsec_c2VjcmV0LWtleS1mb3Itc2lnbmluZw=="


class CarelessConfig(Schema):
    channel = fields.String(required=True)
    api_key = Secret(required=True)
    mode = fields.String(load_default="fail")


class CarelessPlugin(Plugin):
    """A plugin that writes its API key into every message it can."""

    id = "careless"
    name = "Careless"
    config_schema = CarelessConfig

    def execute(self, ctx):
        key = ctx.config["api_key"]
        if ctx.config["mode"] == "crash":
            raise RuntimeError(f"connection to https://api.example.com/?key={key} refused")
        if ctx.config["mode"] == "chatty":  # logs from the plugin's own thread
            logging.getLogger("careless").warning("calling the API with key %s", key)
            return ExecutionResult()
        if ctx.config["mode"] == "ok":
            return ExecutionResult(summary=f"sent with {key}", request={"url": f"https://x/?k={key}"})
        raise PluginError(f"401 for key {key}", response={"body_excerpt": f"bad key {key}"})

    def test_connection(self, config):
        return TestResult(False, f"the key {config['api_key']} was refused", {"echo": config["api_key"]})


def _everything_stored() -> str:
    """Every document of every collection, as text."""
    db = database()
    return "\n".join(json_util.dumps(doc) for name in db.list_collection_names() for doc in db[name].find({}))


def _careless_app(make_app):
    app = make_app(SCHEDULER_ENABLED=True)
    services(app).plugins.register(CarelessPlugin, "tests")
    return app


def test_secrets_are_encrypted_at_rest_and_never_returned(live_api, sink):
    form = live_api.create_form("Contact")
    config = live_api.add_plugin(form["id"], "webhook", {"url": sink.url, "secret": WEBHOOK_SECRET})
    assert WEBHOOK_SECRET not in json.dumps(config)
    sub = live_api.submit(form["id"], {"name": "Ada"})
    wait_until(lambda: live_api.job(sub["jobs"][0])["status"] == "completed", what="delivery")
    assert sink.requests  # the secret was used (signature) ...
    stored = _everything_stored()
    assert (
        WEBHOOK_SECRET not in stored and "c2VjcmV0LWtleS1mb3Itc2lnbmluZw" not in stored
    )  # ... never stored clear
    answers = [
        live_api.get(f"/api/plugin-configs/{config['id']}").json,
        live_api.get(f"/api/forms/{form['id']}/plugins").json,
        live_api.job(sub["jobs"][0]),
        live_api.get("/api/logs").json,
        live_api.get("/api/jobs").json,
    ]
    assert WEBHOOK_SECRET not in json.dumps(answers)


def test_a_plugins_error_messages_and_request_summaries_are_scrubbed(make_app):
    app = _careless_app(make_app)
    api = Api(app.test_client())
    form = api.create_form("F")
    failing = api.add_plugin(form["id"], "careless", {"channel": "c", "api_key": API_KEY}, max_attempts=1)
    ok = api.add_plugin(form["id"], "careless", {"channel": "c", "api_key": API_KEY, "mode": "ok"})
    sub = api.submit(form["id"], {"x": "y"})
    jobs = {api.job(j)["config_id"]: j for j in sub["jobs"]}
    wait_until(lambda: api.job(jobs[failing["id"]])["status"] == "failed", what="the failure")
    wait_until(lambda: api.job(jobs[ok["id"]])["status"] == "completed", what="the success")
    failed = api.job(jobs[failing["id"]])
    assert failed["last_error"] == "401 for key [secret]"
    assert failed["logs"][0]["response"]["body_excerpt"] == "bad key [secret]"
    done = api.job(jobs[ok["id"]])
    assert done["logs"][0]["request"]["url"] == "https://x/?k=[secret]"
    assert API_KEY not in _everything_stored()


def test_a_plugin_crash_is_logged_without_the_secret(make_app, caplog):
    app = _careless_app(make_app)
    install_log_filter()  # also on pytest's capturing handler, which came after the app
    api = Api(app.test_client())
    form = api.create_form("F")
    config = api.add_plugin(
        form["id"], "careless", {"channel": "c", "api_key": API_KEY, "mode": "crash"}, max_attempts=1
    )
    job_id = api.submit(form["id"], {"x": "y"})["jobs"][0]
    wait_until(lambda: api.job(job_id)["status"] == "failed", what="the crash")
    assert "RuntimeError" in caplog.text and "refused" in caplog.text
    assert API_KEY not in caplog.text
    assert config["config"]["api_key"] != API_KEY


def test_test_connection_results_never_show_the_secret(make_app):
    app = _careless_app(make_app)
    api = Api(app.test_client())
    unsaved = api.post("/api/plugins/careless/test", {"config": {"channel": "c", "api_key": API_KEY}}).json
    assert unsaved["message"] == "the key [secret] was refused"
    assert API_KEY not in json.dumps(unsaved)
    form = api.create_form("F")
    config = api.add_plugin(form["id"], "careless", {"channel": "c", "api_key": API_KEY})
    saved = api.post(f"/api/plugin-configs/{config['id']}/test").json
    assert API_KEY not in json.dumps(saved) and "[secret]" in saved["message"]


def test_python_logs_inside_hiding_are_scrubbed(caplog):
    from app.secret_scrub import hiding

    install_log_filter()
    log = logging.getLogger("tests.secrets")
    with caplog.at_level(logging.INFO), hiding([API_KEY]):
        log.info("calling with %s", API_KEY)
        try:
            raise ValueError(f"bad {API_KEY}")
        except ValueError:
            log.exception("failed")
    assert "calling with [secret]" in caplog.text and "bad [secret]" in caplog.text
    assert API_KEY not in caplog.text


def test_what_a_plugin_logs_from_its_own_thread_is_scrubbed(make_app, caplog):
    app = _careless_app(make_app)
    install_log_filter()  # also on pytest's capturing handler, which came after the app
    api = Api(app.test_client())
    form = api.create_form("F")
    api.add_plugin(form["id"], "careless", {"channel": "c", "api_key": API_KEY, "mode": "chatty"})
    job_id = api.submit(form["id"], {"x": "y"})["jobs"][0]
    wait_until(lambda: api.job(job_id)["status"] == "completed", what="the delivery")
    assert "calling the API with key [secret]" in caplog.text
    assert API_KEY not in caplog.text
