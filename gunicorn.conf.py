"""gunicorn settings for production (docker-compose); `make run` uses the same hooks and timeout."""

from app.gunicorn_hooks import child_exit, on_starting, post_worker_init, worker_exit  # noqa: F401  (read by name)
from app.gunicorn_hooks import graceful_timeout as _graceful_timeout

worker_class = "gthread"
threads = 8
# SHUTDOWN_GRACE plus a margin: a worker's scheduler stops before gunicorn would kill it.
graceful_timeout = _graceful_timeout()
