"""Browser tests: the app served on a free port (real store, running scheduler) driven by Debian's Chromium.

Without Chromium (or Playwright) the tests skip with one line locally, and fail under CI=true.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from app import auth

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DOCS_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "correct horse battery"
# How long an action waits for its element and an expect() for its condition (both poll; Playwright's own
# defaults, 30 s and 5 s, differ): long enough for a page on a host loaded by the suite's other workers.
WAIT_MS = 20_000


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).is_file():
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class LiveServer:
    """The app on 127.0.0.1:<free port>, served by werkzeug in a thread."""

    def __init__(self, app: Flask):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Account:
    email: str
    password: str
    user_id: str
    token: str  # a personal API token, for setting things up through the API


@dataclass
class World:
    """Two workspaces: "Acme" with an owner, an editor and a viewer; "Globex" with its own owner and form."""

    server: LiveServer
    workspace_id: str
    owner: Account
    editor: Account
    viewer: Account
    other_form_id: str

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, method: str, path: str, account: Account | None = None, **kwargs) -> requests.Response:
        """Call the JSON API as ``account`` (the owner by default)."""
        headers = {"Authorization": f"Bearer {(account or self.owner).token}"}
        return requests.request(method, self.url + path, headers=headers, timeout=10, **kwargs)

    def create_form(self, name: str = "Contact", fields: list | None = None) -> str:
        fields = fields or [{"name": "email", "type": "email", "required": True}]
        resp = self.api(
            "POST", "/api/forms", json={"name": name, "workspace_id": self.workspace_id, "fields": fields}
        )
        assert resp.status_code == 201, resp.text
        return resp.json()["id"]

    def add_webhook(self, form_id: str, url: str, name: str = "Orders hook") -> str:
        body = {"plugin_id": "webhook", "name": name, "config": {"url": url}}
        resp = self.api("POST", f"/api/forms/{form_id}/plugins", json=body)
        assert resp.status_code == 201, resp.text
        return resp.json()["id"]

    def submit(self, form_id: str, data: dict) -> list[str]:
        resp = requests.post(f"{self.url}/api/forms/{form_id}/submissions", json={"data": data}, timeout=10)
        assert resp.status_code == 202, resp.text
        return resp.json()["jobs"]

    def job(self, job_id: str) -> dict:
        return self.api("GET", f"/api/jobs/{job_id}").json()


@pytest.fixture
def world(make_app) -> Iterator[World]:
    app = make_app(SCHEDULER_ENABLED=True)
    with app.app_context():
        accounts = {}
        for role in ("owner", "editor", "viewer"):
            user = auth.create_user(f"{role}@acme.test", PASSWORD, name=role.capitalize())
            accounts[role] = Account(user.email, PASSWORD, str(user.id), auth.create_token(user, "tests")[1])
        owner = auth.user_by_email("owner@acme.test")
        acme = auth.create_workspace("Acme", owner)
        auth.set_member(str(acme.id), auth.user_by_email("editor@acme.test"), "editor")
        auth.set_member(str(acme.id), auth.user_by_email("viewer@acme.test"), "viewer")
        stranger = auth.create_user("owner@globex.test", PASSWORD)
        globex = auth.create_workspace("Globex", stranger)
        token, clear = auth.create_token(stranger, "test")
    server = LiveServer(app)
    other = requests.post(
        f"{server.url}/api/forms",
        json={"name": "Globex secrets", "workspace_id": str(globex.id)},
        headers={"Authorization": f"Bearer {clear}"},
        timeout=10,
    )
    assert other.status_code == 201, other.text
    yield World(
        server, str(acme.id), accounts["owner"], accounts["editor"], accounts["viewer"], other.json()["id"]
    )
    server.stop()


@pytest.fixture
def context(browser, world: World):
    ctx = browser.new_context(base_url=world.url, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(WAIT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    """A page; a JavaScript error on it fails the test."""
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda err: errors.append(str(err)))
    yield page
    assert errors == [], f"JavaScript errors: {errors}"


def login(page, account: Account) -> None:
    page.goto("/admin/login")
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password").fill(account.password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))


def shot(page, name: str, docs: bool = False) -> None:
    """A full-page screenshot in tests/artifacts/ (and docs/screenshots/ when FH_DOCS_SCREENSHOTS=1)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if docs and os.environ.get("FH_DOCS_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_SHOTS / f"{name}.png"), full_page=True)


UNLABELLED = """
() => Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
  .filter(el => !el.closest('template') && el.offsetParent !== null)
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML.slice(0, 120))
"""


def assert_accessible(page) -> None:
    """Every visible input has a label, and nothing is wider than the viewport."""
    assert page.evaluate(UNLABELLED) == []
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the viewport"
