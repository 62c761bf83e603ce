"""How long a thread may keep the GIL while another wants it, in the processes that serve (gunicorn workers,
the embedded store).

A delivery is a dozen short waits on sockets; after each one its thread needs the GIL back. Python's
default (5 ms) lets a thread busy in Python, such as one workspace's export, keep it that long each time,
so another workspace's delivery in the same process waited up to 5 ms per socket read (bench: "dispatch p99
beside heavy reads"). 0.5 ms bounds that wait; threads that only compute pay a little more switching.
"""

from __future__ import annotations

import os
import sys

DEFAULT = 0.0005  # seconds (Python's own: 0.005)


def apply(env: os._Environ[str] | dict[str, str] = os.environ) -> float:
    """Set this process's switch interval from ``GIL_SWITCH_INTERVAL`` (seconds), else ``DEFAULT``."""
    seconds = float(env.get("GIL_SWITCH_INTERVAL") or DEFAULT)
    sys.setswitchinterval(seconds)
    return seconds
