"""The peer: RQ on Redis with two `rq worker` processes doing the same signed POST to the same sink.

Needs the Debian package ``redis-server`` and the ``rq`` package (the ``bench`` extra). When the bench
runs as root and ``redis-server`` is missing it tries ``apt-get install -y redis-server`` once; otherwise
the peer is skipped with a clear reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from app.store.embedded import free_port
from bench.procs import wait_with_usage
from bench.rq_task import QUEUE, deliver
from bench.store_raw import PAYLOAD


def find_redis_server(try_install: bool = True) -> tuple[str | None, str]:
    """The redis-server binary, installing the Debian package when possible; else (None, why not)."""
    path = shutil.which("redis-server")
    if path:
        return path, ""
    if not try_install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, "redis-server is not installed (Debian package redis-server)"
    print("  installing redis-server (apt-get) for the RQ peer ...", flush=True)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, **quiet)
    subprocess.run(["apt-get", "install", "-y", "-qq", "redis-server"], env=env, check=False, **quiet)
    path = shutil.which("redis-server")
    return (path, "") if path else (None, "redis-server could not be installed with apt-get")


def rq_available() -> tuple[bool, str]:
    try:
        import redis  # noqa: F401
        import rq  # noqa: F401
    except ImportError:
        return False, "rq/redis are not installed (pip install -e '.[bench]')"
    return True, ""


class RedisServer:
    """A throw-away redis-server on a free loopback port, without persistence."""

    def __init__(self, binary: str, log_path: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        import redis

        self.client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 15
        while True:
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start; see {log_path}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def enqueue(redis_url: str, sink_url: str, count: int) -> None:
    """Put ``count`` delivery jobs on the queue (pipelined, before any worker runs)."""
    import redis
    from rq import Queue

    conn = redis.Redis.from_url(redis_url)
    queue = Queue(QUEUE, connection=conn)
    batch = 500
    for start in range(0, count, batch):
        queue.enqueue_many(
            [
                Queue.prepare_data(
                    deliver,
                    args=(sink_url, f"msg_rq_{i}", {"event": "form.submitted", "delivery_id": i, **PAYLOAD}),
                    result_ttl=600,
                )
                for i in range(start, min(count, start + batch))
            ]
        )
    conn.close()


def start_workers(
    redis_url: str, workers: int, log_path: Path, simple: bool = False, burst: bool = True
) -> list[subprocess.Popen]:
    """`rq worker` processes: RQ's default forking worker, or with ``simple`` its ``SimpleWorker``, which
    runs each job in the worker process itself (RQ's fastest). ``burst`` workers exit when the queue is
    empty; others run until stopped. ``-c bench.rq_task`` preloads the job's module."""
    options = (["--burst"] if burst else []) + (
        ["--worker-class", "rq.worker.SimpleWorker"] if simple else []
    )
    rq_bin = str(Path(sys.executable).with_name("rq"))
    root = Path(__file__).resolve().parent.parent
    log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the processes
    return [
        subprocess.Popen(
            [
                rq_bin,
                "worker",
                *options,
                "--quiet",
                "-c",
                "bench.rq_task",
                "--url",
                redis_url,
                "--path",
                str(root),
                QUEUE,
            ],
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for _ in range(workers)
    ]


def wait_workers(redis_url: str, count: int, timeout: float) -> None:
    """Until ``count`` workers have registered with Redis (started and listening)."""
    import redis
    from rq import Worker

    conn = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    try:
        while Worker.count(connection=conn) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{count} RQ workers did not start within {timeout:g} s")
            time.sleep(0.05)
    finally:
        conn.close()


def stop_workers(procs: list[subprocess.Popen], timeout: float = 15.0) -> float | None:
    """Wait for the burst workers to end (terminating any still running after ``timeout``; at once with
    ``timeout=0``); returns the CPU seconds they and their work horses used, when every one could be
    accounted."""
    total: float | None = 0.0
    if timeout <= 0:
        for proc in procs:
            proc.terminate()
    for proc in procs:
        used = wait_with_usage(proc, max(timeout, 10))
        if proc.returncode is None:
            proc.terminate()
            used = wait_with_usage(proc, 10)
        if proc.returncode is None:
            proc.kill()
            proc.wait()
        total = None if total is None or used is None else total + used
    return total
