"""A fake HubSpot CRM API v3: contact properties, contact upsert by e-mail, deal search and create, errors."""

from __future__ import annotations

import itertools
from typing import Any

from tests.plugins.peers.http import FakeServer, Reply, Request

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
NOW = "2026-05-01T10:00:00.000Z"


def _error(status: int, category: str, message: str) -> Reply:
    return Reply(
        status, {"status": "error", "message": message, "category": category, "correlationId": "c0ffee"}
    )


def _object(oid: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": oid,
        "properties": properties,
        "createdAt": NOW,
        "updatedAt": NOW,
        "archived": False,
        **extra,
    }


class FakeHubSpot:
    """A portal with the standard contact properties (plus read-only ``hs_object_id``); contacts and deals."""

    def __init__(self) -> None:
        self.properties = {
            "email": False,
            "firstname": False,
            "lastname": False,
            "message": False,
            "hs_object_id": True,
        }
        self.contacts: dict[str, dict[str, Any]] = {}  # id -> properties
        self.deals: dict[str, dict[str, Any]] = {}  # id -> {"properties", "contact"}
        self._ids = itertools.count(101)
        self.server = FakeServer(self._handle)

    @property
    def api_url(self) -> str:
        return self.server.url

    def config(self, **extra: Any) -> dict[str, Any]:
        return {"access_token": TOKEN, **extra}

    def script(self, *replies: Reply) -> None:
        self.server.script(*replies)

    def _handle(self, req: Request) -> Reply:
        if req.headers.get("authorization") != f"Bearer {TOKEN}":
            return _error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
        route = (req.method, req.path)
        if route == ("GET", "/crm/v3/properties/contacts"):
            return Reply(200, {"results": [self._property(n, ro) for n, ro in self.properties.items()]})
        if route == ("POST", "/crm/v3/objects/contacts/batch/upsert"):
            return self._upsert(req.json()["inputs"])
        if route == ("POST", "/crm/v3/objects/deals/search"):
            return self._search(req.json())
        if route == ("POST", "/crm/v3/objects/deals"):
            body = req.json()
            contact = body["associations"][0]["to"]["id"]
            deal_id = str(next(self._ids))
            self.deals[deal_id] = {"properties": body["properties"], "contact": contact}
            return Reply(201, _object(deal_id, body["properties"]))
        return _error(404, "OBJECT_NOT_FOUND", "Not found")

    def _property(self, name: str, read_only: bool) -> dict[str, Any]:
        return {
            "name": name,
            "label": name.title(),
            "type": "string",
            "fieldType": "text",
            "description": "",
            "groupName": "contactinformation",
            "options": [],
            "modificationMetadata": {
                "readOnlyValue": read_only,
                "archivable": True,
                "readOnlyDefinition": True,
            },
        }

    def _upsert(self, inputs: list[dict[str, Any]]) -> Reply:
        results = []
        for item in inputs:
            unknown = [p for p in item["properties"] if self.properties.get(p, True)]
            if unknown:
                return _error(
                    400,
                    "VALIDATION_ERROR",
                    f'Property values were not valid: [{{"name":"{unknown[0]}","error":"PROPERTY_DOESNT_EXIST"}}]',
                )
            found = next((cid for cid, p in self.contacts.items() if p["email"] == item["id"]), None)
            new = found is None
            if new:
                found = str(next(self._ids))
                self.contacts[found] = {}
            self.contacts[found].update(item["properties"])
            results.append(_object(found, self.contacts[found], new=new))
        return Reply(200, {"status": "COMPLETE", "results": results, "startedAt": NOW, "completedAt": NOW})

    def _search(self, body: dict[str, Any]) -> Reply:
        wanted = {f["propertyName"]: f["value"] for f in body["filterGroups"][0]["filters"]}
        hits = [
            _object(did, d["properties"])
            for did, d in self.deals.items()
            if d["properties"].get("dealname") == wanted.get("dealname")
            and d["contact"] == wanted.get("associations.contact")
        ]
        return Reply(200, {"total": len(hits), "results": hits[:1]})

    def close(self) -> None:
        self.server.close()
