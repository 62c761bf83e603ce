"""Admin pages through the Flask test client, logged in as the first owner (fast; no browser)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient


@pytest.fixture
def owner(app: Flask) -> FlaskClient:
    """A client with the first owner's session (pages, and the API with the CSRF header)."""
    return owner_client(app)


def owner_client(app: Flask) -> FlaskClient:
    """A client of ``app`` logged in as the first owner."""
    client = app.test_client()
    resp = client.post(
        "/api/auth/login", json={"email": app.config["ADMIN_EMAIL"], "password": app.config["ADMIN_PASSWORD"]}
    )
    assert resp.status_code == 200, resp.json
    return client
