"""The RQ peer's job, and its worker settings module (``rq worker -c bench.rq_task``).

Passing this module as the worker's config preloads it in the worker process before it forks a work
horse per job (RQ's advice for speed), so the peer pays no import per job. It imports nothing of the
app: a light module keeps RQ's forks cheap, the fairest setting for the peer.
"""

from __future__ import annotations

import datetime as dt
import json

import requests
from standardwebhooks import Webhook

QUEUE = "bench"  # the RQ queue of both peers
SECRET = "whsec_YmVuY2gtc2VjcmV0LWJlbmNoLXNlY3JldA=="
_signer = Webhook(SECRET)


def deliver(url: str, msg_id: str, body: dict) -> int:
    """The webhook plugin's POST: JSON body, Standard Webhooks headers and signature; 2xx or raise."""
    raw = json.dumps(body, separators=(",", ":"), default=str)
    now = dt.datetime.now(dt.UTC)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Formhooks-Bench-RQ/1.0",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": _signer.sign(msg_id, now, raw),
    }
    resp = requests.post(url, data=raw.encode(), headers=headers, timeout=10)
    resp.raise_for_status()
    return resp.status_code
