"""``make run``: start the embedded store when MONGODB_URI is unset, then serve the app under gunicorn."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from app.config import persistent_secret, private_dir
from app.store.embedded import EmbeddedStore


def banner(port: int, token: str, email: str, password: str) -> str:
    base = f"http://127.0.0.1:{port}"
    return f"""
  Formhooks is running at {base}
  Admin UI:    {base}/admin/  — log in as {email} / {password}
  Admin token: {token}

  Try it:
    curl -s -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\
         -d '{{"name": "Contact", "fields": [{{"name": "email", "type": "email", "required": true}}]}}' \\
         {base}/api/forms
"""


def run_gunicorn(port: int, workers: int) -> None:
    from gunicorn.app.base import BaseApplication

    from app.gunicorn_hooks import child_exit, graceful_timeout, on_starting, post_worker_init, worker_exit

    class Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"127.0.0.1:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", 8)
            self.cfg.set("graceful_timeout", graceful_timeout())
            self.cfg.set("accesslog", "-" if os.environ.get("ACCESS_LOG") else None)
            self.cfg.set("worker_exit", worker_exit)
            self.cfg.set("post_worker_init", post_worker_init)
            self.cfg.set("child_exit", child_exit)
            self.cfg.set("on_starting", on_starting)

        def load(self):
            from wsgi import app

            return app

    Server().run()


def main() -> None:
    data_dir = private_dir(Path(os.environ.setdefault("DATA_DIR", "./var")))
    port = int(os.environ.get("PORT", 5000))
    store = None
    if not os.environ.get("MONGODB_URI"):
        store = EmbeddedStore(data_dir / "store").start()
        os.environ["MONGODB_URI"] = store.uri
        print(f"  Embedded store (nx-27017) on {store.uri}, data in {data_dir / 'store'}", flush=True)
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(data_dir / "metrics"))
    token = os.environ.get("ADMIN_TOKEN") or persistent_secret(data_dir / "admin_token", prefix="fh_")
    email = os.environ.get("ADMIN_EMAIL", "admin@example.com")
    password = os.environ.get("ADMIN_PASSWORD") or persistent_secret(data_dir / "admin_password")
    print(banner(port, token, email, password), flush=True)
    try:
        run_gunicorn(port, int(os.environ.get("WEB_WORKERS", 2)))
    finally:
        if store:
            store.stop()


if __name__ == "__main__":
    sys.exit(main())
