"""A fake Twilio REST API (2010-04-01): accounts, incoming numbers and messages, with Twilio's error codes."""

from __future__ import annotations

import base64
import itertools
import re
from typing import Any

from tests.plugins.peers.http import FakeServer, Reply, Request

ACCOUNT_SID = "AC" + "a1" * 16
AUTH_TOKEN = "twilio-auth-token-0123456789"
NUMBER = "+14155550100"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def _error(status: int, code: int, message: str) -> Reply:
    return Reply(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


class FakeTwilio:
    """Account Acme owns NUMBER; ``messages`` are the accepted messages; ``stopped`` numbers replied STOP."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.stopped: set[str] = set()
        self.account_status = "active"
        self._sids = itertools.count(1)
        self.server = FakeServer(self._handle)

    @property
    def api_url(self) -> str:
        return self.server.url

    def script(self, *replies: Reply) -> None:
        self.server.script(*replies)

    def config(self, **extra: Any) -> dict[str, Any]:
        return {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "from_number": NUMBER,
            "to": "{{ data.phone }}",
            **extra,
        }

    def _handle(self, req: Request) -> Reply:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if req.headers.get("authorization") != expected:
            return _error(401, 20003, "Authenticate")
        base = f"/2010-04-01/Accounts/{ACCOUNT_SID}"
        if req.method == "GET" and req.path == f"{base}.json":
            return Reply(200, {"sid": ACCOUNT_SID, "friendly_name": "Acme", "status": self.account_status})
        if req.method == "GET" and req.path == f"{base}/IncomingPhoneNumbers.json":
            owned = (
                [{"sid": "PN1", "phone_number": NUMBER}]
                if req.query.get("PhoneNumber") in (None, NUMBER)
                else []
            )
            return Reply(
                200,
                {
                    "incoming_phone_numbers": owned,
                    "page": 0,
                    "page_size": 50,
                    "next_page_uri": None,
                    "uri": req.path,
                },
            )
        if req.method == "POST" and req.path == f"{base}/Messages.json":
            return self._message(req.form())
        return _error(404, 20404, "The requested resource was not found")

    def _message(self, params: dict[str, str]) -> Reply:
        to, sender, body = params.get("To", ""), params.get("From"), params.get("Body", "")
        if not E164.match(to):
            return _error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if sender and sender != NUMBER:
            return _error(
                400,
                21606,
                f"The 'From' phone number provided ({sender}) is not a valid message-capable Twilio phone number for this destination/account",
            )
        if to in self.stopped:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        sid = f"SM{next(self._sids):032x}"
        segments = 1 if len(body) <= 160 else -(-len(body) // 153)
        message = {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "to": to,
            "from": sender,
            "body": body,
            "status": "queued",
            "num_segments": str(segments),
            "error_code": None,
            "error_message": None,
        }
        self.messages.append(message)
        return Reply(201, message)

    def close(self) -> None:
        self.server.close()
