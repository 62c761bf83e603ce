"""The embedded store: nx-27017 (MongoDB wire protocol on SQLite) as a child process on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pymongo


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedStore:
    """Start with ``start()`` (or as a context manager); ``uri`` is then a MongoDB URI for it.

    ``launcher``: the module run as the store, the patched nx-27017 (``nx_27017.nx_27017`` runs it as
    published, unpatched: for tests)."""

    def __init__(
        self, data_dir: str | os.PathLike, port: int | None = None, launcher: str = "app.store.nx_quiet"
    ):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.launcher = launcher
        self.proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 30.0) -> EmbeddedStore:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)  # the databases hold every workspace's data: owner only
        log_path = self.data_dir / "nx-27017.log"
        log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the process
        log_path.chmod(0o600)
        # --data-dir keeps each logical database in its own SQLite file (real isolation between databases).
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                self.launcher,
                "--data-dir",
                str(self.data_dir),
                "--host",
                "127.0.0.1",
                "-p",
                str(self.port),
                "--log-file",
                str(self.data_dir / "nx-27017.log"),
                "--pid-file",
                str(self.data_dir / "nx-27017.pid"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=0o077,  # its SQLite files (and their journals) are created owner-only
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=500)
        try:
            while True:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(
                        f"nx-27017 exited with {self.proc.returncode}; see {self.data_dir}/nx-27017.log"
                    )
                try:
                    client.admin.command("ping")
                    return
                except pymongo.errors.PyMongoError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"nx-27017 did not answer on port {self.port} within {timeout:g} s"
                        ) from None
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.send_signal(signal.SIGCONT)  # a paused store handles its SIGTERM once resumed
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): its sockets stay open and nothing answers, as in a partition."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Undo ``pause`` (SIGCONT)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def __enter__(self) -> EmbeddedStore:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
