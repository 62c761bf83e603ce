"""Plugin worker processes start clean: nothing of the host's secrets in their environment or memory, and
another user than the host's when it runs as root.

The worker pool's forkserver imports this module first (``workers._PRELOAD``). In that process, importing it
re-executes the forkserver before anything else is imported:

- with an environment of ``PATH``, ``LANG``/``LC_*``, ``TZ`` and ``PYTHONPATH`` (plus the working directory,
  which ``python -c`` puts on ``sys.path``) only, so ``os.environ``, ``/proc/self/environ`` and the process's
  memory hold nothing the host was started with (``SECRET_KEY``, ``ADMIN_TOKEN``, ``MONGODB_URI``, ...);
- as ``nobody`` (no supplementary groups) when it runs as root, so that plugin code cannot read the host's
  files (``DATA_DIR`` is 0700, its secrets 0600) nor ``/proc/<pid>/environ`` of the host's processes.
  ``nobody`` must be able to run the interpreter and import the app: that is tried first, and where it fails
  (a Python installed under ``/root``, say) the workers stay root and say so on stderr and in ``/readyz``.

Every worker is forked from that clean process; ``problem()`` is checked by each worker before it loads plugin
code, and a worker that is not clean refuses to run any.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys

KEPT = ("PATH", "LANG", "LANGUAGE", "TZ", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
MARK = "FORMHOOKS_PLUGIN_SANDBOX"  # the user plugin code runs as ("root" only when nobody could not run it)
FORKSERVER = "from multiprocessing.forkserver import main"


def plugin_user() -> tuple[int, int]:
    """The uid and gid plugin code runs as when the host is root: ``nobody``'s (65534 where it is unknown)."""
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        return 65534, 65534
    return entry.pw_uid, entry.pw_gid


def clean_environment(environ: dict[str, str]) -> dict[str, str]:
    """The environment plugin code gets: locale, path and Python path, nothing else."""
    env = {k: v for k, v in environ.items() if k in KEPT or k.startswith("LC_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.getcwd(), environ.get("PYTHONPATH", "")) if p)
    env["HOME"] = "/nonexistent"
    return env


def problem() -> str | None:
    """Why this process may not run plugin code (None: it may)."""
    extra = sorted(k for k in os.environ if k not in (*KEPT, "HOME", MARK) and not k.startswith("LC_"))
    if not os.environ.get(MARK) or extra:
        return f"its environment is not the sandbox's (it has {', '.join(extra) or 'no sandbox mark'})"
    if os.geteuid() == 0 and os.environ[MARK] != "root":
        return "it runs as root"
    return None


def _runs_as(uid: int, gid: int, env: dict[str, str]) -> str | None:
    """Why this interpreter cannot import the worker module as ``uid`` (None: it can)."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", "import app.engine.workers"],
            env=env,
            user=uid,
            group=gid,
            extra_groups=[],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    lines = done.stderr.decode(errors="replace").strip().splitlines()
    return None if done.returncode == 0 else (lines[-1] if lines else f"exit status {done.returncode}")


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def user() -> str | None:
    """The user this (worker) process runs plugin code as, by the sandbox's mark."""
    return os.environ.get(MARK)


def _enter() -> None:
    """Re-execute this process (the pool's forkserver) clean, as ``nobody`` when it is root and can be."""
    if problem() is None:
        return
    env = {**clean_environment(dict(os.environ)), MARK: _name(os.getuid())}
    if os.getuid() == 0:
        uid, gid = plugin_user()
        refused = _runs_as(uid, gid, env)
        if refused is None:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            env[MARK] = _name(uid)
        else:
            print(
                f"formhooks: plugin processes run as root: as nobody, {refused}", file=sys.stderr, flush=True
            )
    # The forkserver's listening socket and pipe were passed inheritable: they stay open across the exec.
    os.execve(sys.executable, sys.orig_argv, env)


# Only in the forkserver: importing this module anywhere else changes nothing.
if FORKSERVER in " ".join(sys.orig_argv):
    _enter()
