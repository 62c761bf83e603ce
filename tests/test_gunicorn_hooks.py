"""The gunicorn hooks serve any WSGI app the config is given (the bench serves its Flask + RQ peer with it)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from flask import Flask

from app import gunicorn_hooks
from app.services import services


@pytest.mark.parametrize("wsgi", [Flask("peer"), object(), None])
def test_a_worker_whose_app_is_not_formhooks_has_no_scheduler(wsgi):
    assert gunicorn_hooks._scheduler(SimpleNamespace(wsgi=wsgi)) is None
    gunicorn_hooks.post_worker_init(SimpleNamespace(wsgi=wsgi))  # and starting it is no error


def test_a_formhooks_worker_has_its_apps_scheduler(live_app):
    assert gunicorn_hooks._scheduler(SimpleNamespace(wsgi=live_app)) is services(live_app).scheduler
