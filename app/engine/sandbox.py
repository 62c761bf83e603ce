"""Plugin worker processes start clean: nothing of the host's secrets in their environment or memory, and
another user than the host's when it runs as root.

The worker pool's forkserver imports this module first (``workers._PRELOAD``). In that process, importing it
re-executes the forkserver before anything else is imported:

- with an environment of ``PATH``, ``LANG``/``LC_*``, ``TZ`` and ``PYTHONPATH`` (plus the working directory,
  which ``python -c`` puts on ``sys.path``) only, so ``os.environ``, ``/proc/self/environ`` and the process's
  memory hold nothing the host was started with (``SECRET_KEY``, ``ADMIN_TOKEN``, ``MONGODB_URI``, ...);
- as ``nobody`` (no supplementary groups) when it runs as root, so that plugin code cannot read the host's
  files (``DATA_DIR`` is 0700, its secrets 0600) nor ``/proc/<pid>/environ`` of the host's processes.

Every worker is forked from that clean process; ``problem()`` is checked by each worker before it loads plugin
code, and a worker that is not clean refuses to run any.
"""

from __future__ import annotations

import os
import pwd
import stat
import sys
import sysconfig

KEPT = ("PATH", "LANG", "LANGUAGE", "TZ", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
MARK = "FORMHOOKS_PLUGIN_SANDBOX"  # the user plugin code runs as ("root" only when blocked() kept it)
FORKSERVER = "from multiprocessing.forkserver import main"


def plugin_user() -> tuple[int, int]:
    """The uid and gid plugin code runs as when the host is root: ``nobody``'s (65534 where it is unknown)."""
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        return 65534, 65534
    return entry.pw_uid, entry.pw_gid


def blocked() -> list[str]:
    """What the plugin user could not read among what a worker needs (the interpreter, the standard library,
    site-packages, the working directory): while any is, workers of a root host stay root (and say so)."""
    paths = sysconfig.get_paths()
    needed = [sys.executable, os.path.dirname(os.__file__), paths["purelib"], paths["platlib"], os.getcwd()]
    return [path for path in dict.fromkeys(needed) if not _others_can_read(path)]


def _others_can_read(path: str) -> bool:
    """By the mode bits: every directory on the way searchable by others, and ``path`` readable by them."""
    path = os.path.realpath(path)
    try:
        if not os.stat(path).st_mode & stat.S_IROTH:
            return False
        parent = os.path.dirname(path)
        while True:
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                return False
            if parent == os.path.dirname(parent):
                return True
            parent = os.path.dirname(parent)
    except OSError:
        return False


def clean_environment(environ: dict[str, str], cwd: str, user: str) -> dict[str, str]:
    """The environment plugin code gets: locale, path and Python path, nothing else."""
    env = {k: v for k, v in environ.items() if k in KEPT or k.startswith("LC_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (cwd, environ.get("PYTHONPATH", "")) if p)
    env["HOME"] = "/nonexistent"
    env[MARK] = user
    return env


def problem() -> str | None:
    """Why this process may not run plugin code (None: it may)."""
    extra = sorted(k for k in os.environ if k not in (*KEPT, "HOME", MARK) and not k.startswith("LC_"))
    if not os.environ.get(MARK) or extra:
        return f"its environment is not the sandbox's (it has {', '.join(extra) or 'no sandbox mark'})"
    if os.geteuid() == 0 and os.environ[MARK] != "root":
        return "it runs as root"
    return None


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _enter() -> None:
    """Re-execute this process (the pool's forkserver) clean, as ``nobody`` when it is root and can be."""
    if problem() is None:
        return
    user = _name(os.getuid())
    if os.getuid() == 0:
        unreadable = blocked()
        if unreadable:
            user = "root"
            print(
                f"formhooks: plugin processes run as root: nobody cannot read {unreadable[0]}",
                file=sys.stderr,
                flush=True,
            )
        else:
            uid, gid = plugin_user()
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            user = _name(uid)
    env = clean_environment(dict(os.environ), os.getcwd(), user)
    os.execve(sys.executable, sys.orig_argv, env)  # the listener's descriptors are inheritable: they stay


if FORKSERVER in " ".join(sys.orig_argv):  # only in the forkserver: importing this module anywhere else is inert
    _enter()
