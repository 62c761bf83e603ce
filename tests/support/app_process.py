"""Run the app in a real child process (for crash and multi-process tests).

python -m tests.support.app_process   # settings from the environment; prints READY <port>
"""

from __future__ import annotations

import os
import signal
import sys

from werkzeug.serving import make_server

from app import create_app
from app.services import services


def main() -> None:
    app = create_app()
    server = make_server("127.0.0.1", int(os.environ.get("PORT", "0")), app, threaded=True)

    def stop(signum, frame):  # graceful: the scheduler releases what it cannot finish in time
        scheduler = services(app).scheduler
        if scheduler:
            scheduler.shutdown()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"READY {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
