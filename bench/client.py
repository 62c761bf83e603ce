"""A thin client of the app's public API for the bench: set up a form with webhooks, submit to it."""

from __future__ import annotations

from typing import Any

import requests

FIELDS = [
    {"name": "email", "type": "email", "required": True},
    {"name": "name", "type": "text"},
    {"name": "message", "type": "text"},
]


def sample_data(i: int) -> dict[str, Any]:
    """A realistic small submission."""
    return {"email": f"person{i}@example.com", "name": f"Person {i}", "message": "Hello from the bench " * 4}


class ApiClient:
    """Admin calls with a bearer token; one keep-alive session per client (not shared across threads)."""

    def __init__(self, base_url: str, token: str):
        self.base = base_url.rstrip("/")
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = self.http.post(f"{self.base}{path}", json=body, timeout=30)
        if resp.status_code >= 300:
            raise RuntimeError(f"POST {path} answered {resp.status_code}: {resp.text[:300]}")
        return resp.json()

    def create_workspace(self, name: str) -> str:
        return self._post("/api/workspaces", {"name": name})["id"]

    def create_form(self, name: str, workspace_id: str | None = None) -> str:
        body = {"name": name, "fields": FIELDS, **({"workspace_id": workspace_id} if workspace_id else {})}
        return self._post("/api/forms", body)["id"]

    def add_plugin(self, form_id: str, plugin_id: str, name: str, config: dict[str, Any]) -> str:
        body = {"plugin_id": plugin_id, "name": name, "config": config}
        return self._post(f"/api/forms/{form_id}/plugins", body)["id"]

    def add_webhook(self, form_id: str, url: str, name: str) -> str:
        return self.add_plugin(form_id, "webhook", name, {"url": url, "secret": "bench-secret"})

    def form_with_webhooks(self, name: str, url: str, count: int) -> tuple[str, list[str]]:
        """A form with ``count`` webhook configs, all pointing at ``url``; returns (form id, config ids)."""
        form_id = self.create_form(name)
        configs = [self.add_webhook(form_id, f"{url}?config={n}", f"{name} hook {n}") for n in range(count)]
        return form_id, configs

    def close(self) -> None:
        self.http.close()


class Unavailable(RuntimeError):
    """The intake answered 503 (its store is unreachable)."""


def submit(http: requests.Session, base_url: str, form_id: str, i: int) -> list[str]:
    """POST one submission (the public intake); returns the ids of the jobs it created."""
    resp = http.post(f"{base_url}/api/forms/{form_id}/submissions", json={"data": sample_data(i)}, timeout=30)
    if resp.status_code == 503:
        raise Unavailable(resp.text[:300])
    if resp.status_code != 202:
        raise RuntimeError(f"intake answered {resp.status_code}: {resp.text[:300]}")
    return resp.json()["jobs"]
