"""The OpenAPI 3.1 document generated from schemas/ is valid and says what the schemas say."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate as validate_openapi
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from pytest_helios.payloads import (
    accepted_response,
    openapi_document,
    rate_limit_error,
    schema_directory,
    unauthorized_error,
    validation_error,
)
from pytest_helios.webhooks import WebhookFactory

DOCUMENT = openapi_document()
ENDPOINTS = ["/api/v1/agent", "/api/v1/lab-results"]
CONCURRENCY = ["X-Concurrent-Limit", "X-Concurrent-Active", "X-Concurrent-Remaining"]


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOCUMENT["openapi"] == "3.1.0"
    validate_openapi(DOCUMENT)


def test_the_validator_catches_a_broken_document() -> None:
    """The check above means something: a response without its description is an error.

    (It does not follow a schema's ``$ref``: the references test below resolves each one.)
    """
    broken = openapi_document()
    del broken["paths"]["/api/v1/agent"]["post"]["responses"]["429"]["description"]
    with pytest.raises(OpenAPIValidationError, match='"description" is a required property'):
        validate_openapi(broken)


def test_each_call_builds_a_new_document() -> None:
    first = openapi_document()
    first["paths"].clear()
    assert openapi_document() == DOCUMENT


@pytest.mark.parametrize("path", ENDPOINTS)
def test_both_endpoints_document_every_response_with_its_schema(path: str) -> None:
    operation = DOCUMENT["paths"][path]["post"]
    request = "agent-request" if path.endswith("agent") else "lab-results-request"
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": f"#/components/schemas/{request}"
    }
    schemas = {
        status: response["content"]["application/json"]["schema"]["$ref"]
        for status, response in operation["responses"].items()
    }
    assert schemas == {
        "200": "#/components/schemas/accepted-response",
        "400": "#/components/schemas/validation-error",
        "401": "#/components/schemas/unauthorized-error",
        "429": "#/components/schemas/rate-limit-error",
    }


@pytest.mark.parametrize("path", ENDPOINTS)
def test_every_response_documents_the_concurrency_headers_and_the_429_retry_after(
    path: str,
) -> None:
    responses = DOCUMENT["paths"][path]["post"]["responses"]
    required = {
        status: {name: header["required"] for name, header in response["headers"].items()}
        for status, response in responses.items()
    }
    assert required == {
        "200": dict.fromkeys(CONCURRENCY, True),
        "400": dict.fromkeys(CONCURRENCY, False),
        "401": dict.fromkeys(CONCURRENCY, False),
        "429": {**dict.fromkeys(CONCURRENCY, True), "Retry-After": True},
    }
    retry_after = responses["429"]["headers"]["Retry-After"]
    assert (retry_after["schema"]["type"], retry_after["example"]) == ("integer", 60)


def test_the_x_api_key_scheme_secures_the_endpoints_and_not_the_webhooks() -> None:
    assert DOCUMENT["components"]["securitySchemes"] == {
        "ApiKeyAuth": {
            "type": "apiKey",
            "in": "header",
            "name": "x-api-key",
            "description": "An API key issued by Helios Intelligence (it starts with "
            "`sk_live_`); one key works for both endpoints.",
        }
    }
    assert DOCUMENT["security"] == [{"ApiKeyAuth": []}]
    assert all(hook["post"]["security"] == [] for hook in DOCUMENT["webhooks"].values())


def test_the_webhooks_are_under_the_webhooks_key_with_their_signature_headers() -> None:
    hooks = DOCUMENT["webhooks"]
    assert {
        name: hook["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        for name, hook in hooks.items()
    } == {
        "status-update": "#/components/schemas/webhook-status-update",
        "ehr-completed": "#/components/schemas/webhook-ehr-completed",
        "lab-results-completed": "#/components/schemas/webhook-lab-results-completed",
        "error": "#/components/schemas/webhook-error",
    }
    for hook in hooks.values():
        parameters = {p["name"]: p for p in hook["post"]["parameters"]}
        assert list(parameters) == ["X-Helios-Signature", "X-Helios-Timestamp", "X-Helios-Run-ID"]
        assert all(p["in"] == "header" and p["required"] for p in parameters.values())
        assert parameters["X-Helios-Signature"]["schema"]["pattern"] == "^sha256=[0-9a-f]{64}$"
        assert list(hook["post"]["responses"]) == ["200"]


def test_every_schema_file_is_a_component_and_every_reference_resolves() -> None:
    components = DOCUMENT["components"]["schemas"]
    assert set(components) == {p.stem for p in schema_directory().glob("*.json")}
    references = list(refs(DOCUMENT))
    assert len(references) > 50
    for reference in references:
        assert reference.startswith("#/components/schemas/"), reference
        resolve(reference)  # raises KeyError when it points nowhere
    assert not any("$id" in schema or "$schema" in schema for schema in components.values())


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in refs(item)]
    return []


def resolve(reference: str) -> Any:
    node: Any = DOCUMENT
    for part in reference.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def validator(component: str) -> Draft202012Validator:
    """A 2020-12 validator of one component, its references resolved inside the document."""
    schema = {**json.loads(json.dumps(DOCUMENT)), "$ref": f"#/components/schemas/{component}"}
    return Draft202012Validator(schema, format_checker=FormatChecker())


def test_the_components_accept_what_the_builders_make_and_refuse_what_breaks_them() -> None:
    run_id = "550e8400-e29b-41d4-a716-446655440000"
    responses = {
        "accepted-response": accepted_response(run_id),
        "validation-error": validation_error([("labResults", "is required")]),
        "unauthorized-error": unauthorized_error("Invalid API key"),
        "rate-limit-error": rate_limit_error("light", 7, 7),
    }
    factory = WebhookFactory("whsec_" + "0" * 48)
    webhooks = {
        "webhook-ehr-completed": factory("deep").payload,
        "webhook-lab-results-completed": factory("lab-results").payload,
        "webhook-status-update": factory("status-update").payload,
        "webhook-error": factory("error").payload,
    }
    for component, payload in {**responses, **webhooks}.items():
        assert list(validator(component).iter_errors(payload)) == [], component
    for payload in webhooks.values():
        assert list(validator("webhook").iter_errors(payload)) == []
    assert not validator("accepted-response").is_valid({"runId": "run-1", "status": "accepted"})
    lab = webhooks["webhook-lab-results-completed"]
    assert lab is not None
    assert not validator("webhook").is_valid({**lab, "result": {**lab["result"], "labResults": 1}})
