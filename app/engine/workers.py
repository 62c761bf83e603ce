"""A warm pool of plugin worker processes, each with a memory limit, a CPU-time limit and a hard deadline.

Each worker is a ``multiprocessing.Process`` (forked from a clean forkserver, not from the threaded app)
with its own ``Pipe``: one call at a time goes down the pipe, its result and log lines come back up.
A worker that crashes, runs out of memory or misses its deadline is killed and replaced on its own; the
other workers and their calls are untouched (unlike ``ProcessPoolExecutor``, which breaks as a whole).
The caller's thread waits on the pipe with a timeout, so nothing is ever left running in this process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import logging
import multiprocessing
import os
import resource
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from types import MappingProxyType
from typing import Any

from app import signals, template_budget
from app.contract import ExecutionContext, Plugin, PluginError
from app.engine import sandbox
from app.template_budget import TemplateBudget

log = logging.getLogger(__name__)

MB = 1024 * 1024
WORKER_NICENESS = 10
# The sandbox first: it makes the forkserver clean before anything else is imported in it (app.engine.sandbox).
_PRELOAD = ["app.engine.sandbox", "app.contract", "app.templating", "app.engine.workers"]
OUTPUT_LIMIT = 64 * 1024  # bytes of a call's stdout/stderr kept, and characters of its log lines
REPLY_LIMIT = 16 * MB  # a worker's answer larger than this is refused (its worker is replaced)


@dataclass
class Call:
    """One plugin call for a worker: everything it needs, and only for this call (secrets included)."""

    plugin: str  # "module:QualName" of the plugin class
    settings: dict[str, Any]
    method: str | None  # "execute", "test_connection", "preview", "on_save"; None only loads the plugin
    args: tuple[Any, ...]  # the method's arguments (an ExecutionContext, or configs)
    budget: TemplateBudget
    cpu_seconds: int


@dataclass
class Reply:
    """What came back: a value, or an error, plus the call's log lines, output and peak memory.

    It travels as JSON, never as a pickle: the host does not unpickle what plugin code could have written.
    """

    value: Any = None  # plain data: dicts, lists, strings, numbers (a dataclass result as its fields)
    error: dict[str, Any] | None = None  # PluginError fields, or {"type": ...} for any other exception
    logs: list[tuple[str, int, str]] = field(default_factory=list)
    logs_dropped: int = 0  # log lines past OUTPUT_LIMIT
    output: str = ""  # the first OUTPUT_LIMIT bytes the call wrote to stdout and stderr
    output_dropped: int = 0  # bytes past those
    peak_mb: float | None = None
    user: str | None = field(default_factory=sandbox.user)  # the user the worker runs plugin code as
    refused: list[str] = field(default_factory=list)  # template budgets hit during the call
    out_of_memory: bool = False

    def encode(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), default=str).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Reply:
        """The Reply in ``raw``, its fields checked and bounded (plugin code may have written it instead);
        ValueError, TypeError or KeyError when it is not one."""
        fields = json.loads(raw)
        if not isinstance(fields, dict):
            raise TypeError("not an object")
        reply = cls(**{f.name: fields[f.name] for f in dataclasses.fields(cls) if f.name in fields})
        logs, size = [], 0
        for name, level, message in reply.logs:
            size += len(str(message))
            if size > OUTPUT_LIMIT:
                break
            logs.append((str(name), int(level), str(message)))
        reply.logs_dropped = int(reply.logs_dropped) + len(reply.logs) - len(logs)
        reply.logs = logs
        reply.output, reply.output_dropped = str(reply.output)[:OUTPUT_LIMIT], int(reply.output_dropped)
        reply.peak_mb = None if reply.peak_mb is None else float(reply.peak_mb)
        reply.user = None if reply.user is None else str(reply.user)
        reply.refused = [str(limit) for limit in reply.refused]
        reply.out_of_memory = reply.out_of_memory is True
        if reply.error is not None and not isinstance(reply.error, dict):
            raise TypeError("error")
        return reply


class WorkerLost(Exception):
    """The worker process died or was killed during the call; ``reason`` says why, in words."""

    def __init__(self, reason: str, deadline: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.deadline = deadline


def class_ref(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


# -- the worker process -------------------------------------------------------------------------------------


class _Capture(logging.Handler):
    """Collects the log lines of one call, to send back with its result: up to OUTPUT_LIMIT characters."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[str, int, str]] = []
        self.size = 0
        self.dropped = 0

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            message = record.getMessage()
            if self.size + len(message) > OUTPUT_LIMIT:
                self.dropped += 1
                return
            self.size += len(message)
            self.lines.append((record.name, record.levelno, message))


class _Output:
    """The call's stdout and stderr: file descriptors 1 and 2 (so C code and child processes are caught too)
    go into a pipe; the first OUTPUT_LIMIT bytes are kept, the rest only counted."""

    def __init__(self) -> None:
        self.kept = bytearray()
        self.dropped = 0

    def __enter__(self) -> _Output:
        _flush()
        read, write = os.pipe()
        self._reader = threading.Thread(target=self._drain, args=(read,), daemon=True)
        try:
            self._reader.start()
        except BaseException:
            os.close(read)
            os.close(write)
            raise
        self._saved = (os.dup(1), os.dup(2))
        os.dup2(write, 1)
        os.dup2(write, 2)
        os.close(write)
        return self

    def _drain(self, fd: int) -> None:
        with open(fd, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                room = max(0, OUTPUT_LIMIT - len(self.kept))
                self.kept += chunk[:room]
                self.dropped += max(0, len(chunk) - room)

    def __exit__(self, *_: Any) -> None:
        _flush()
        for fd, saved in zip((1, 2), self._saved, strict=True):
            os.dup2(saved, fd)
            os.close(saved)
        self._reader.join(timeout=1.0)  # a child process the plugin left running may keep the pipe open

    @property
    def text(self) -> str:
        return bytes(self.kept).decode("utf-8", "replace")


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _peak_mb() -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _reset_peak() -> None:
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # resets VmHWM (Linux ≥ 4.0), so the peak is this call's


def _limit_cpu(seconds: int) -> None:
    """SIGXCPU once this call has used ``seconds`` more CPU time than the process had used before it."""
    if seconds <= 0:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = int(usage.ru_utime + usage.ru_stime) + 1
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    soft = used + seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _plugin(ref: str, settings: dict[str, Any], cache: dict[tuple, Plugin]) -> Plugin:
    key = (ref, tuple(sorted((k, repr(v)) for k, v in settings.items())))
    if key not in cache:
        module, _, name = ref.partition(":")
        cls: Any = importlib.import_module(module)
        for part in name.split("."):
            cls = getattr(cls, part)
        cache[key] = cls(MappingProxyType(dict(settings)))
    return cache[key]


def _run(call: Call, cache: dict[tuple, Plugin]) -> Reply:
    template_budget.configure(call.budget)
    refused: list[str] = []

    def on_refused(_: Any, limit: str, **__: Any) -> None:
        refused.append(limit)

    signals.render_refused.connect(on_refused)
    capture = _Capture()
    root = logging.getLogger()
    root.addHandler(capture)
    reply = Reply()
    output = _Output()
    try:
        with output:
            plugin = _plugin(call.plugin, call.settings, cache)
            for argument in call.args:
                if isinstance(argument, ExecutionContext):
                    argument.settings = plugin.settings
            if call.method is not None:
                value = getattr(plugin, call.method)(*call.args)
                plain = dataclasses.is_dataclass(value) and not isinstance(value, type)
                reply.value = dataclasses.asdict(value) if plain else value
    except MemoryError:
        reply.out_of_memory = True
    except PluginError as exc:
        reply.error = {
            "message": exc.message,
            "permanent": exc.permanent,
            "retry_after": exc.retry_after,
            "disable": exc.disable,
            "response": exc.response,
        }
    except Exception as exc:  # reported to the host, which logs and retries it like any plugin bug
        reply.error = {"type": type(exc).__name__, "message": str(exc)}
    finally:
        root.removeHandler(capture)
        signals.render_refused.disconnect(on_refused)
    reply.logs, reply.logs_dropped, reply.refused = capture.lines, capture.dropped, refused
    reply.output, reply.output_dropped = output.text, output.dropped
    return reply


def serve(conn: Connection, memory_mb: int) -> None:
    """The worker process: limits itself, then runs calls from ``conn`` until it is closed."""
    refusal = sandbox.problem()
    if refusal is not None:
        raise SystemExit(f"formhooks: this plugin process may not run plugin code: {refusal}")
    with open(os.devnull, "wb") as null:  # between calls too, nothing a plugin writes reaches the host's log
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if memory_mb > 0:
        limit = memory_mb * MB
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # Below the app's priority: a plugin that spins gets the CPU the app leaves, so it cannot slow the
    # deliveries and answers of everyone else on a machine with few cores.
    os.nice(WORKER_NICENESS)
    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger().handlers.clear()
    cache: dict[tuple, Plugin] = {}
    while True:
        try:
            call = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if call is None:
            return
        _limit_cpu(call.cpu_seconds)
        _reset_peak()
        reply = _run(call, cache)
        del call  # the config and its secrets leave with the call
        reply.peak_mb = _peak_mb()
        try:
            conn.send_bytes(reply.encode())
        except MemoryError:
            reply = Reply(out_of_memory=True, peak_mb=reply.peak_mb)
            conn.send_bytes(reply.encode())
        except Exception as exc:  # a value that is not plain data
            failed = Reply(error={"type": type(exc).__name__, "message": "result could not be returned"})
            conn.send_bytes(failed.encode())
        if reply.out_of_memory:
            return  # the heap may be in a bad state: the host replaces this process


# -- the pool -----------------------------------------------------------------------------------------------


class _Worker:
    def __init__(self, ctx: Any, memory_mb: int):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=serve, args=(child, memory_mb), daemon=True, name="formhooks-plugin"
        )
        self.process.start()
        child.close()

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


def _death_reason(exitcode: int | None, cpu_seconds: int) -> str:
    if exitcode is not None and exitcode < 0:
        sig = -exitcode
        if sig == signal.SIGXCPU:
            return f"plugin process exceeded its CPU time limit ({cpu_seconds} s)"
        return f"plugin process killed by signal {sig}"
    return f"plugin process exited with status {exitcode}"


class WorkerPool:
    """Up to ``size`` warm worker processes, started on first use and reused for every later call."""

    def __init__(self, size: int, memory_mb: int, cpu_seconds: int, preload: list[str] | None = None):
        self.size = max(1, size)
        self.memory_mb = memory_mb
        self.cpu_seconds = cpu_seconds
        self._ctx = multiprocessing.get_context("forkserver")
        # Modules imported once by the forkserver: every worker forked from it shares their pages.
        self._ctx.set_forkserver_preload([*_PRELOAD, *(preload or [])])
        self.warming = False
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._starting = 0  # slots taken by processes being started (outside the lock)
        self._closed = False
        self.restarts: Counter[str] = Counter()  # reason -> count (for /readyz and /metrics)

    @property
    def processes(self) -> list[int]:
        with self._cond:
            return [w.process.pid for w in (*self._idle, *self._busy) if w.process.pid]

    def _acquire(self, deadline: float) -> _Worker:
        with self._cond:
            while True:
                if self._closed:
                    raise WorkerLost("plugin worker pool is shut down")
                if self._idle:
                    worker = self._idle.pop()
                    if worker.process.is_alive():
                        self._busy.add(worker)
                        return worker
                    worker.kill()
                    continue
                if len(self._busy) + self._starting < self.size:
                    self._starting += 1  # the slot is taken now: concurrent callers must not start one too
                    break
                if not self._cond.wait(timeout=max(0.0, deadline - time.monotonic())):
                    raise WorkerLost("waited for a free plugin process until the deadline", deadline=True)
        try:
            worker = _Worker(self._ctx, self.memory_mb)  # outside the lock: starting takes a few ms
        except BaseException:
            with self._cond:
                self._starting -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._starting -= 1
            self._busy.add(worker)
        return worker

    def _release(self, worker: _Worker, healthy: bool) -> None:
        if not healthy:
            worker.kill()
        with self._cond:
            self._busy.discard(worker)
            if healthy and not self._closed:
                self._idle.append(worker)
            self._cond.notify()
        if healthy and self._closed:
            worker.kill()

    def _replaced(self, reason: str) -> None:
        with self._cond:
            self.restarts[reason] += 1
        signals.worker_replaced.send(None, reason=reason)
        log.warning("plugin worker replaced: %s", reason)

    def call(self, call: Call, timeout: float) -> Reply:
        """Run ``call`` in a worker; WorkerLost when it died or missed the deadline (it is then replaced)."""
        deadline = time.monotonic() + timeout
        worker = self._acquire(deadline)
        healthy = False
        try:
            worker.conn.send(call)
            if not worker.conn.poll(max(0.0, deadline - time.monotonic())):
                self._replaced("deadline")
                raise WorkerLost(
                    f"did not finish within {timeout:g} s; its process was killed", deadline=True
                )
            try:
                reply = Reply.decode(worker.conn.recv_bytes(REPLY_LIMIT))
            except (ValueError, TypeError, KeyError):  # not a Reply: nothing more is read from that process
                self._replaced("exit")
                raise WorkerLost("plugin process sent an answer that is not one") from None
            except (EOFError, OSError):
                worker.process.join(timeout=2)
                if worker.process.exitcode is None:  # alive: its answer was over the limit
                    self._replaced("exit")
                    raise WorkerLost(f"plugin process answered over {REPLY_LIMIT // MB} MB") from None
                reason = _death_reason(worker.process.exitcode, self.cpu_seconds)
                self._replaced("crash" if "signal" in reason else "cpu" if "CPU" in reason else "exit")
                raise WorkerLost(reason) from None
            if reply.out_of_memory:
                self._replaced("memory")
                raise WorkerLost(f"plugin process exceeded {self.memory_mb} MB")
            healthy = True
            return reply
        finally:
            self._release(worker, healthy)

    def warm(self, calls: list[Call], timeout: float = 60.0) -> None:
        """Start every worker now and load the given plugins in each, so the first jobs do not wait."""
        deadline = time.monotonic() + timeout
        workers: list[_Worker] = []
        self.warming = True
        try:
            while len(workers) < self.size and len(self._busy) + len(self._idle) + self._starting < self.size:
                workers.append(self._acquire(deadline))
                for call in calls:
                    workers[-1].conn.send(call)
            while workers:  # each one serves jobs as soon as it is ready
                worker = workers[0]
                for _ in calls:
                    if worker.conn.poll(max(0.0, deadline - time.monotonic())):
                        worker.conn.recv_bytes(REPLY_LIMIT)
                self._release(workers.pop(0), worker.process.is_alive())
        except (WorkerLost, EOFError, OSError) as exc:
            log.warning("warming the plugin workers stopped: %s", exc)
        finally:
            self.warming = False
            for worker in workers:
                self._release(worker, False)

    def shutdown(self, kill: bool = True, timeout: float = 2.0) -> None:
        """Stop every worker: at once (``kill``), or by closing their pipes and waiting up to ``timeout``."""
        with self._cond:
            self._closed = True
            workers = [*self._idle, *self._busy]
            self._idle.clear()
            self._cond.notify_all()
        for worker in workers:
            if not kill:
                with contextlib.suppress(Exception):
                    worker.conn.send(None)
                worker.process.join(timeout=timeout)
            worker.kill()

    def rss_mb(self) -> float:
        """Resident memory of the worker processes together."""
        total = 0
        for pid in self.processes:
            with contextlib.suppress(OSError), open(f"/proc/{pid}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        return total / MB
