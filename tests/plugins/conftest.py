"""Fixtures of the plugin tests: real protocol peers on loopback and contexts to run plugins directly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from app.contract import Plugin
from app.contract.testing import TEST_SETTINGS, context, payload  # noqa: F401 - payload: for the tests
from tests.conftest import Api
from tests.plugins.peers.certs import CertFiles, self_signed
from tests.plugins.peers.google import FakeGoogle
from tests.plugins.peers.slack import FakeSlack
from tests.plugins.peers.smtp import SmtpPeer
from tests.support.wait import wait_until

SETTINGS = TEST_SETTINGS


def run_plugin(plugin: Plugin, raw_config: dict[str, Any], snapshot: dict[str, Any], job_id: str = "job1"):
    """One attempt with the config loaded through the plugin's schema: its ExecutionResult, or it raises."""
    return plugin.execute(context(plugin, raw_config, snapshot, job_id=job_id))


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return self_signed(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def trust(certs: CertFiles, monkeypatch: pytest.MonkeyPatch) -> CertFiles:
    """Make the test certificate the only trusted CA (OpenSSL reads SSL_CERT_FILE when loading defaults)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.cert))
    return certs


@pytest.fixture
def smtp(trust: CertFiles) -> Iterator[SmtpPeer]:
    peer = SmtpPeer(trust)
    yield peer
    peer.close()


@pytest.fixture
def live_api_with(make_app: Callable[..., Flask]) -> Callable[..., Api]:
    """A live app (scheduler running) with settings overridden, e.g. SLACK_API_URL of a fake."""

    def build(**settings: Any) -> Api:
        return Api(make_app(SCHEDULER_ENABLED=True, **settings).test_client())

    return build


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


def finished_job(api: Api, job_id: str, timeout: float = 15.0) -> dict:
    """Wait until a job is completed, failed or cancelled; return it with its logs."""
    return wait_until(
        lambda: (job := api.job(job_id))["status"] in ("completed", "failed", "cancelled") and job,
        timeout=timeout,
        what=f"job {job_id} to finish",
    )


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    fake = FakeGoogle()
    yield fake
    fake.close()
