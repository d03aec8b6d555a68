"""Both documented endpoints validate the request and answer 200 accepted with a fresh runId."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from pytest_helios.emulator import HeliosEmulator
from tests.samples import agent_request, lab_request

from .conftest import post

ACCEPTED = "Request accepted. Results will be delivered to your webhook."


def invalid(message: str, *details: tuple[str, str]) -> dict[str, Any]:
    return {
        "error": "Validation Error",
        "message": message,
        "details": [{"field": f, "message": m} for f, m in details],
    }


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/agent", agent_request("light")),
        ("/api/v1/agent", agent_request("deep")),
        ("/api/v1/lab-results", lab_request()),
    ],
    ids=["light", "deep", "lab-results"],
)
def test_a_valid_request_is_accepted_with_a_fresh_run_id_and_concurrency_headers(
    client: httpx.Client, path: str, body: dict[str, Any]
) -> None:
    first = client.post(path, json=body)
    second = client.post(path, json=body)
    assert first.status_code == 200
    payload = first.json()
    assert payload == {"runId": payload["runId"], "status": "accepted", "message": ACCEPTED}
    assert uuid.UUID(payload["runId"]).version == 4
    assert second.json()["runId"] != payload["runId"]
    assert first.headers["X-Concurrent-Limit"] == "7"
    assert int(first.headers["X-Concurrent-Active"]) >= 1
    assert (
        int(first.headers["X-Concurrent-Active"]) + int(first.headers["X-Concurrent-Remaining"])
        == 7
    )


def test_missing_required_fields_are_each_named(client: httpx.Client) -> None:
    response = client.post("/api/v1/agent", json={})
    assert response.status_code == 400
    assert response.json() == invalid(
        "webhookUrl: is required (and 2 more)",
        ("webhookUrl", "is required"),
        ("agentType", "is required"),
        ("data", "is required"),
    )


def test_a_400_names_nested_fields_by_dotted_path(client: httpx.Client) -> None:
    body = lab_request()
    body["labResults"].append({"name": "eGFR", "value": 38})
    response = client.post("/api/v1/lab-results", json=body)
    assert response.status_code == 400
    assert response.json()["details"] == [
        {"field": "labResults[1].value", "message": "expected string, got integer"}
    ]
    assert response.headers["X-Concurrent-Limit"] == "7"


def test_an_unknown_agent_type_is_a_validation_error_with_the_light_agents_slot_headers(
    client: httpx.Client,
) -> None:
    """Every response carries the concurrency headers (tests/emulator/test_fidelity_headers.py)."""
    response = client.post("/api/v1/agent", json=agent_request("medium"))
    assert response.status_code == 400
    assert response.json()["details"] == [
        {"field": "agentType", "message": "expected one of 'light', 'deep'"}
    ]
    assert response.headers["X-Concurrent-Limit"] == "7"


def test_an_empty_lab_list_is_refused(client: httpx.Client) -> None:
    response = client.post("/api/v1/lab-results", json={**lab_request(), "labResults": []})
    assert response.status_code == 400
    (detail,) = response.json()["details"]
    assert detail["field"] == "labResults"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.org/hook", "must use https (http is accepted only for loopback hosts)"),
        ("ftp://127.0.0.1/hook", "must be an absolute http(s) URL"),
        ("/relative/hook", "not a valid uri"),
        ("https://[::1/hook", "not a valid uri"),
    ],
)
def test_a_webhook_url_that_cannot_receive_webhooks_is_refused(
    client: httpx.Client, url: str, reason: str
) -> None:
    response = client.post("/api/v1/agent", json=agent_request(webhook_url=url))
    assert response.json() == invalid(f"webhookUrl: {reason}", ("webhookUrl", reason))


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/h", "http://localhost/h", "http://[::1]:81/h", "https://127.0.0.1/h"],
)
def test_https_and_loopback_http_webhook_urls_are_accepted(client: httpx.Client, url: str) -> None:
    assert client.post("/api/v1/agent", json=agent_request(webhook_url=url)).status_code == 200


def test_require_https_refuses_http_even_on_loopback() -> None:
    with HeliosEmulator(require_https=True) as emu:
        key = emu.create_account("acme").create_key("ci")
        response = post(
            emu.url + "/api/v1/agent",
            headers={"x-api-key": key.value},
            json=agent_request(webhook_url="http://127.0.0.1:8000/h"),
        )
    assert response.json()["details"] == [{"field": "webhookUrl", "message": "must use https"}]


@pytest.mark.parametrize(
    ("content", "content_type", "message", "detail"),
    [
        (
            b"{not json",
            "application/json",
            "Request body is not valid JSON",
            "Expecting property name enclosed in double quotes",
        ),
        (
            b"\xff\xfe{}",
            "application/json",
            "Request body is not valid UTF-8",
            "invalid UTF-8 byte at position 0",
        ),
        (b"", "application/json", "Request body is empty", "a JSON object is required"),
        (
            b"{}",
            "text/plain",
            "Content-Type must be application/json",
            "expected Content-Type application/json, got text/plain",
        ),
        (
            b"{}",
            None,
            "Content-Type must be application/json",
            "expected Content-Type application/json, got none",
        ),
        (
            b'{"a": NaN}',
            "application/json",
            "Request body is not valid JSON",
            "NaN is not valid JSON",
        ),
        (
            b"[" * 100_000 + b"]" * 100_000,
            "application/json",
            "Request body is nested too deeply",
            "JSON nesting deeper than 64 levels",
        ),
        (
            b"[" * 70 + b"]" * 70,
            "application/json",
            "Request body is nested too deeply",
            "JSON nesting deeper than 64 levels",
        ),
    ],
    ids=[
        "malformed",
        "not-utf8",
        "empty",
        "text-plain",
        "no-content-type",
        "nan",
        "deep",
        "deep-but-parseable",
    ],
)
def test_a_body_that_is_not_a_json_document_gets_a_clear_400(
    client: httpx.Client, content: bytes, content_type: str | None, message: str, detail: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/api/v1/lab-results", content=content, headers=headers)
    assert response.status_code == 400
    assert response.json() == invalid(message, ("", detail))


def test_a_json_body_that_is_not_an_object_names_the_root(client: httpx.Client) -> None:
    response = client.post("/api/v1/agent", json=[1, 2])
    assert response.status_code == 400
    assert response.json()["details"] == [{"field": "", "message": "expected object, got array"}]


def test_a_body_over_the_size_limit_gets_413() -> None:
    with HeliosEmulator(max_body_bytes=1000) as emu:
        key = emu.create_account("acme").create_key("ci")
        big = json.dumps(lab_request() | {"padding": "x" * 2000}).encode()
        response = post(
            emu.url + "/api/v1/lab-results",
            headers={"x-api-key": key.value, "content-type": "application/json"},
            content=big,
        )
        chunked = post(
            emu.url + "/api/v1/lab-results",
            headers={"x-api-key": key.value, "content-type": "application/json"},
            content=iter([big[:600], big[600:]]),
        )
    for r in (response, chunked):
        assert r.status_code == 413
        assert r.json() == {
            "error": "Payload Too Large",
            "message": "Request body exceeds 1000 bytes",
        }


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_a_wrong_method_gets_405_naming_post(client: httpx.Client, method: str) -> None:
    response = client.request(method, "/api/v1/agent")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.json() == {
        "error": "Method Not Allowed",
        "message": f"{method} is not allowed on /api/v1/agent; use POST",
    }


def test_an_unknown_path_gets_a_json_404(client: httpx.Client) -> None:
    response = client.post("/api/v2/agent", json={})
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found", "message": "No route for POST /api/v2/agent"}


@pytest.mark.parametrize(
    "path", ["/api/v1/agent/", "/api/v1/lab-results/", "/accounts/acme/api/v1/agent/"]
)
def test_an_endpoint_path_with_a_trailing_slash_gets_a_json_404_naming_the_endpoint(
    client: httpx.Client, path: str
) -> None:
    response = client.post(path, json={})
    assert response.status_code == 404
    assert response.json() == {
        "error": "Not Found",
        "message": f"No route for POST {path}; the endpoint is {path[:-1]} (no trailing slash)",
    }


def test_a_trailing_slash_on_a_path_that_is_no_endpoint_gets_the_plain_404(
    client: httpx.Client,
) -> None:
    response = client.post("/foo/api/v1/agent/", json={})
    assert response.status_code == 404
    assert response.json() == {
        "error": "Not Found",
        "message": "No route for POST /foo/api/v1/agent/",
    }
