"""Settings: environment variables with defaults, plus secrets generated once and kept in DATA_DIR."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

from flask import Flask

TRUE = {"1", "true", "yes", "on"}

# name -> (type, default). The README's configuration table mirrors this.
SETTINGS: dict[str, tuple[type, Any]] = {
    "MONGODB_URI": (str, ""),
    "MONGODB_DB": (str, "formhooks"),
    "ADMIN_TOKEN": (str, ""),
    "SECRET_KEY": (str, ""),
    "ENCRYPTION_KEYS": (str, ""),
    "DATA_DIR": (str, "./var"),
    "PORT": (int, 5000),
    "WORKER_THREADS": (int, 8),
    "POLL_INTERVAL": (float, 1.0),
    "JOB_TIMEOUT": (float, 30.0),
    "LEASE_SECONDS": (float, 60.0),
    "MAX_ATTEMPTS": (int, 5),
    "RETRY_BACKOFF_BASE": (float, 10.0),
    "RETRY_BACKOFF_MAX": (float, 3600.0),
    "SHUTDOWN_GRACE": (float, 10.0),
    "SCHEDULER_ENABLED": (bool, True),
    "ALLOW_PRIVATE_DESTINATIONS": (bool, False),
    "MAX_CONTENT_LENGTH": (int, 1024 * 1024),
    "DB_TIMEOUT_MS": (int, 3000),
    "SWEEP_INTERVAL": (float, 30.0),
    "SWEEP_MIN_AGE": (float, 10.0),
    "MAX_ABANDONED_THREADS": (int, 16),
    "CIRCUIT_FAILURE_THRESHOLD": (int, 10),
    "CIRCUIT_COOLDOWN": (float, 60.0),
    "CIRCUIT_COOLDOWN_MAX": (float, 3600.0),
    "CIRCUIT_DISABLE_AFTER": (float, 3 * 86400.0),
    "OPERATION_BATCH_SIZE": (int, 100),
    "OPERATION_INFLIGHT": (int, 4),
    "OPERATION_INFLIGHT_IDLE": (int, 200),  # the same while no live job waits or runs
    "OPERATIONS_PER_WORKSPACE": (int, 2),
    "OPERATION_RESEND_INTERVAL": (float, 60.0),
    "WORKFLOW_MAX_STEPS": (int, 20),
    "WORKFLOW_RUNS_PER_MINUTE": (int, 600),  # runs a workspace's workflows may start per minute (0: no cap)
    # bytes of trigger data a workspace's runs may start with per minute, each run's counted once per step
    # (every step's job carries it): 20 steps of a 1 MB input are 20 MB (0: no cap)
    "WORKFLOW_BYTES_PER_MINUTE": (int, 256 * 1024 * 1024),
    "WORKFLOW_SCHEDULE_INTERVAL": (float, 5.0),  # how often a scheduler looks for due cron workflows
    "EXPORT_SHARE": (float, 0.5),  # the share of the time a heavy admin read (an export, a search) may keep busy
    "HEAVY_READ_WAIT": (float, 2.0),  # seconds a heavy admin read waits for its workspace's turn, then a 429
    # Retention (app/engine/retention.py): a pass every RETENTION_INTERVAL s, of at most RETENTION_PASS_SECONDS,
    # removing at most RETENTION_BATCH submissions at a time (fewer while batches are slow), busy at most
    # RETENTION_SHARE of the time.
    "RETENTION_INTERVAL": (float, 10.0),
    "RETENTION_PASS_SECONDS": (float, 8.0),
    "RETENTION_BATCH": (int, 100),
    "RETENTION_SHARE": (float, 0.25),
    "ALERT_CHECK_INTERVAL": (float, 60.0),
    "INDEX_INTERVAL": (float, 2.0),  # seconds between the indexer's passes (search postings, form figures)
    "ALERT_COOLDOWN": (float, 3600.0),
    "ALERT_FAILURE_RATE": (float, 0.5),
    "ALERT_MIN_ATTEMPTS": (int, 10),
    "FAULT_INJECTION": (str, ""),  # crash tests only: "crash_before_jobs"
    "SLACK_API_URL": (str, "https://slack.com/api/"),
    "GOOGLE_SHEETS_API_URL": (str, "https://sheets.googleapis.com/v4/"),
    "TWILIO_API_URL": (str, "https://api.twilio.com"),
    "AIRTABLE_API_URL": (str, "https://api.airtable.com"),
    "HUBSPOT_API_URL": (str, "https://api.hubapi.com"),
    # Accounts (docs/auth.md): the first owner, sessions, rate limits.
    "ADMIN_EMAIL": (str, "admin@example.com"),
    "ADMIN_PASSWORD": (str, ""),
    "PASSWORD_HASH_METHOD": (str, "scrypt"),
    "SESSION_COOKIE_SECURE": (bool, False),
    "SESSION_IDLE_TIMEOUT": (float, 8 * 3600.0),
    "PROXY_FIX_HOPS": (int, 0),
    "RATELIMIT_STORAGE_URI": (str, "memory://"),
    "LOGIN_RATE_LIMIT": (str, "10 per minute;50 per hour"),
    "SUBMIT_RATE_LIMIT": (str, "60 per minute"),
    # The hosted page's spam protection (app/hosted/spam.py): a post sooner than this after the page was
    # shown is asked to send again (0: no timing check), and a page older than HOSTED_MAX_AGE too.
    "HOSTED_MIN_SECONDS": (float, 3.0),
    "HOSTED_MAX_AGE": (float, 86400.0),
    "FORM_CACHE_SECONDS": (float, 1.0),
    # Security (README "Security"): invitations, their e-mail, and who may read /metrics.
    "INVITE_TTL": (float, 7 * 86400.0),
    "SMTP_URL": (str, ""),
    "MAIL_FROM": (str, "formhooks@localhost"),
    "PUBLIC_URL": (str, ""),
    "METRICS_TOKEN": (str, ""),
    # Isolation (docs/isolation.md): template budgets, plugin worker processes, fair share.
    "TEMPLATE_MAX_OUTPUT_KB": (int, 64),
    "TEMPLATE_MAX_ITERATIONS": (int, 10_000),
    "TEMPLATE_MAX_INT_DIGITS": (int, 1_000),
    "TEMPLATE_MAX_SECONDS": (float, 0.5),
    "PLUGIN_ISOLATION": (str, "third-party"),
    "PLUGIN_PROCESSES": (int, 4),
    "PLUGIN_MEMORY_MB": (int, 256),
    "PLUGIN_CPU_SECONDS": (int, 30),
    "INTEGRATION_CONCURRENCY": (int, 4),
    "WORKSPACE_SHARE": (float, 0.75),
}


def _coerce(kind: type, raw: Any) -> Any:
    if kind is bool and isinstance(raw, str):
        return raw.strip().lower() in TRUE
    return kind(raw)


def load_settings(app: Flask, overrides: dict[str, Any] | None = None) -> None:
    """Fill ``app.config`` from defaults, the environment and ``overrides`` (in rising priority)."""
    overrides = overrides or {}
    for name, (kind, default) in SETTINGS.items():
        if name in overrides:
            value = overrides[name]
        elif name in os.environ:
            value = os.environ[name]
        else:
            value = default
        app.config[name] = _coerce(kind, value)
    for name, value in overrides.items():
        if name not in SETTINGS:
            app.config[name] = value
    data_dir = private_dir(Path(app.config["DATA_DIR"]))
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = persistent_secret(data_dir / "secret_key")
    if not app.config["ADMIN_TOKEN"]:
        app.config["ADMIN_TOKEN"] = persistent_secret(data_dir / "admin_token", prefix="fh_")
    if not app.config["ADMIN_PASSWORD"]:
        app.config["ADMIN_PASSWORD"] = persistent_secret(data_dir / "admin_password")


def private_dir(path: Path) -> Path:
    """``path``, created if needed, searchable by its owner only: plugin worker processes run as another user
    (docs/isolation.md), and the app's secrets and store live here. An existing one of ours is tightened."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = path.stat()
    if found.st_uid == os.getuid() and found.st_mode & 0o077:
        path.chmod(0o700)
    return path


def persistent_secret(path: Path, prefix: str = "") -> str:
    """Return the secret kept in ``path``, creating it atomically on first use (safe across workers)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another worker may be writing it right now
            value = path.read_text().strip()
            if value:
                return value
            time.sleep(0.01)
        raise RuntimeError(f"{path} exists but is empty") from None
    value = prefix + secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value
