"""gunicorn settings for production (docker-compose); `make run` uses the same hook."""

from app.gunicorn_hooks import child_exit, on_starting, worker_exit  # noqa: F401  (gunicorn reads hooks by name)

worker_class = "gthread"
threads = 8
graceful_timeout = 30
