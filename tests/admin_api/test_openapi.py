"""The OpenAPI document: generated for every endpoint, browsable at /api/docs, and the API keeps to it
(schemathesis, with the admin token: no 5xx, and answers match the document)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.api.openapi import OPS
from app.models import Alert
from tests.conftest import ADMIN_TOKEN


def test_every_api_endpoint_is_documented(app):
    endpoints = {r.endpoint for r in app.url_map.iter_rules() if r.rule.startswith("/api/")}
    assert endpoints - set(OPS) == set(), "add these endpoints to app.api.openapi.OPS"


def test_the_document_is_public_and_describes_auth(app):
    spec = app.test_client().get("/api/openapi.json").json
    assert spec["openapi"].startswith("3.")
    assert set(spec["components"]["securitySchemes"]) == {"bearerAuth", "sessionCookie"}
    intake = spec["paths"]["/api/forms/{form_id}/submissions"]["post"]
    assert intake["security"] == []
    assert "application/x-www-form-urlencoded" in intake["requestBody"]["content"]
    assert spec["components"]["schemas"]["FormIn"]["properties"]["name"]["maxLength"] == 200


def test_the_docs_page_lists_operations_and_schemas_without_external_assets(app):
    page = app.test_client().get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "/api/forms/{form_id}/submissions" in html and 'id="schema-FormOut"' in html
    assert "http://" not in html and "https://" not in html and "<script" not in html


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
RANDOM_IDS = "/api/plugins/{plugin_id}/test"  # keeps a made-up plugin id: no sends to generated URLs
EXAMPLES = 15  # per operation: the whole API in about half a minute


def _world(api, people) -> dict[str, str]:
    """Real objects, so generated requests reach past the 404s into validation and the handlers."""
    form = api.create_form("Contact", [{"name": "email", "type": "email", "required": True}])
    config = api.add_plugin(
        form["id"], "webhook", {"url": "http://127.0.0.1:9/hook", "secret": "whsec_c2VjcmV0"}
    )
    sub = api.submit(form["id"], {"email": "a@example.com"})
    member = people.member("m@example.com", {people.default_workspace(): "editor"})
    return {
        "form_id": form["id"],
        "config_id": config["id"],
        "submission_id": sub["id"],
        "job_id": sub["jobs"][0],
        "workspace_id": people.default_workspace(),
        "user_id": member.id,
        "token_id": api.post("/api/tokens", {"name": "t"}).json["id"],
        "plugin_id": "webhook",
        "op_id": api.post("/api/replays", {"form_id": form["id"], "statuses": ["failed"]}).json["id"],
        "alert_id": str(
            Alert(workspace_id=people.default_workspace(), config_id=config["id"], kind="circuit_open",
                  title="t", message="m", dedup_key="k").save().id
        ),
        **_invitation(api, people.default_workspace()),
        **_workflow(api),
    }


def _workflow(api) -> dict[str, str]:
    made = api.post(
        "/api/workflows",
        {
            "name": "Flow",
            "trigger": {"type": "manual"},
            "steps": [{"name": "hook", "plugin_id": "webhook", "config": {"url": "http://127.0.0.1:9/flow"}}],
        },
    ).json
    run = api.post(f"/api/workflows/{made['id']}/run", {"data": {"n": 1}}).json
    return {"workflow_id": made["id"], "run_id": run["id"]}


def _invitation(api, workspace_id: str) -> dict[str, str]:
    made = api.post(
        f"/api/workspaces/{workspace_id}/invitations", {"email": "i@example.com", "role": "viewer"}
    )
    return {"invitation_id": made.json["id"], "token": made.json["link"].rsplit("/", 1)[1]}


@pytest.mark.heavy(seconds=20)
def test_the_api_keeps_to_its_document(app, api, people):
    """Every operation with generated inputs (on real objects): no 5xx, documented statuses and content
    types, answers that match their schemas. Deletions run last."""
    ids = _world(api, people)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 40
    operations.sort(key=lambda op: (op.method.upper() == "DELETE", op.path))
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
        )
        def check(case):
            if case.operation.path != RANDOM_IDS:
                for name in case.path_parameters or {}:
                    case.path_parameters[name] = ids[name]
            if case.query and "workspace_id" in case.query:
                case.query["workspace_id"] = ids["workspace_id"]
            case.call_and_validate(headers=headers, checks=CHECKS)

        check()
