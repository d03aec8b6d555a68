"""HeliosClient and AsyncHeliosClient: requests, answers, errors and 429 retries.

The server here is a real HTTP server on loopback that answers a scripted sequence, so each
documented status can be produced on demand; the emulator-backed behaviour is tested through the
fixtures in test_fixtures.py.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_helios import (
    AsyncHeliosClient,
    HeliosAuthError,
    HeliosClient,
    HeliosError,
    HeliosRateLimited,
    HeliosValidationError,
)
from tests.loopback import LoopbackServer, QuietHandler
from tests.samples import LAB as SAMPLE_LAB

RUN_ID = "550e8400-e29b-41d4-a716-446655440000"
ACCEPTED = {
    "runId": RUN_ID,
    "status": "accepted",
    "message": "Request accepted. Results will be delivered to your webhook.",
}
CONCURRENCY = {"X-Concurrent-Limit": "7", "X-Concurrent-Active": "3", "X-Concurrent-Remaining": "4"}
LAB = {key: SAMPLE_LAB[key] for key in ("name", "value", "flag")}


@dataclass
class Scripted:
    """A loopback server answering each request with the next scripted (status, body, headers)."""

    answers: list[tuple[int, Any, dict[str, str]]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    def answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.answers.append((status, body, {**CONCURRENCY, **(headers or {})}))


@pytest.fixture
def server() -> Iterator[Scripted]:
    scripted = Scripted()

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            scripted.requests.append(
                (self.command, self.path, dict(self.headers.items()), self.body())
            )
            status, body, headers = scripted.answers.pop(0)
            payload = json.dumps(body).encode() if not isinstance(body, bytes) else body
            self.reply(status, payload, {"Content-Type": "application/json", **headers})

    with LoopbackServer(Handler) as loopback:
        scripted.url = loopback.url
        yield scripted


@pytest.fixture
def api_key() -> str:
    return "sk_live_" + secrets.token_hex(16)


@pytest.fixture
def client(server: Scripted, api_key: str) -> Iterator[HeliosClient]:
    with HeliosClient(api_key, base_url=server.url) as c:
        yield c


def test_submit_lab_results_posts_the_documented_body_with_the_key_header(
    server: Scripted, client: HeliosClient, api_key: str
) -> None:
    server.answer(200, ACCEPTED)
    run = client.submit_lab_results(
        lab_results=[LAB], webhook_url="https://example.test/hook", patient_context={"age": "58"}
    )
    method, path, headers, body = server.requests[0]
    assert (method, path) == ("POST", "/api/v1/lab-results")
    assert headers["x-api-key"] == api_key
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "labResults": [LAB],
        "webhookUrl": "https://example.test/hook",
        "patientContext": {"age": "58"},
    }
    assert run.run_id == RUN_ID
    assert run.status == "accepted"
    assert run.message == ACCEPTED["message"]
    assert (run.concurrency.limit, run.concurrency.active, run.concurrency.remaining) == (7, 3, 4)


def test_submit_agent_posts_agent_type_and_data(server: Scripted, client: HeliosClient) -> None:
    server.answer(200, ACCEPTED)
    client.submit_agent(
        webhook_url="https://example.test/hook",
        agent_type="deep",
        data={"patientInfo": {"age": 45}},
    )
    _, path, _, body = server.requests[0]
    assert path == "/api/v1/agent"
    assert json.loads(body) == {
        "webhookUrl": "https://example.test/hook",
        "agentType": "deep",
        "data": {"patientInfo": {"age": 45}},
    }


def test_an_unknown_agent_type_is_refused_before_anything_is_sent(
    server: Scripted, client: HeliosClient
) -> None:
    with pytest.raises(HeliosError) as excinfo:
        client.submit_agent(webhook_url="https://example.test/h", agent_type="ehr", data={})
    assert str(excinfo.value) == "agent_type must be one of 'light', 'deep', not 'ehr'"
    assert server.requests == []


def test_a_401_raises_helios_auth_error_naming_the_masked_key_and_the_reason(
    server: Scripted, client: HeliosClient, api_key: str
) -> None:
    server.answer(401, {"error": "Unauthorized", "message": "API key has been revoked"})
    with pytest.raises(HeliosAuthError) as excinfo:
        client.submit_lab_results(lab_results=[LAB], webhook_url="https://example.test/h")
    message = str(excinfo.value)
    assert message == (
        f"POST /api/v1/lab-results refused the API key sk_live_…{api_key[-4:]} (401): "
        "Unauthorized: API key has been revoked"
    )
    assert api_key not in message
    assert excinfo.value.status_code == 401


def test_a_400_raises_helios_validation_error_with_each_field_error(
    server: Scripted, client: HeliosClient
) -> None:
    server.answer(
        400,
        {
            "error": "Validation Error",
            "message": "2 fields are invalid",
            "details": [
                {"field": "labResults[0].value", "message": "is required"},
                {"field": "webhookUrl", "message": "must be a URI"},
            ],
        },
    )
    with pytest.raises(HeliosValidationError) as excinfo:
        client.submit_lab_results(lab_results=[{"name": "x"}], webhook_url="nope")
    assert str(excinfo.value).splitlines() == [
        "POST /api/v1/lab-results rejected the request (400): "
        "Validation Error: 2 fields are invalid",
        "  labResults[0].value: is required",
        "  webhookUrl: must be a URI",
    ]
    assert [e.field for e in excinfo.value.field_errors] == ["labResults[0].value", "webhookUrl"]


def test_a_429_raises_helios_rate_limited_with_retry_after_and_counts(
    server: Scripted, client: HeliosClient
) -> None:
    server.answer(
        429,
        {
            "error": "Too many concurrent requests",
            "message": "You have 7 active light agent requests. Maximum is 7.",
            "activeCount": 7,
            "limit": 7,
        },
        {"Retry-After": "60", "X-Concurrent-Active": "7", "X-Concurrent-Remaining": "0"},
    )
    with pytest.raises(HeliosRateLimited) as excinfo:
        client.submit_agent(webhook_url="https://example.test/h", agent_type="light", data={})
    error = excinfo.value
    assert str(error) == (
        "POST /api/v1/agent is rate limited (429): Too many concurrent requests: "
        "You have 7 active light agent requests. Maximum is 7.; retry after 60 s"
    )
    assert (error.retry_after, error.active_count, error.limit) == (60.0, 7, 7)
    assert error.concurrency is not None and error.concurrency.remaining == 0


def test_rate_limit_retries_wait_retry_after_then_succeed(server: Scripted, api_key: str) -> None:
    waits: list[float] = []
    server.answer(429, {"error": "Too many concurrent requests"}, {"Retry-After": "3"})
    server.answer(429, {"error": "Too many concurrent requests"})
    server.answer(200, ACCEPTED)
    with HeliosClient(
        api_key, base_url=server.url, rate_limit_retries=2, max_retry_wait=10, sleep=waits.append
    ) as c:
        run = c.submit_agent(webhook_url="https://example.test/h", agent_type="light", data={})
    assert run.run_id == RUN_ID
    assert waits == [3.0, 2.0]
    assert len(server.requests) == 3


def test_rate_limit_retries_give_up_after_the_configured_number(
    server: Scripted, api_key: str
) -> None:
    waits: list[float] = []
    for _ in range(2):
        server.answer(429, {"error": "Too many concurrent requests"}, {"Retry-After": "120"})
    with (
        HeliosClient(
            api_key, base_url=server.url, rate_limit_retries=1, max_retry_wait=5, sleep=waits.append
        ) as c,
        pytest.raises(HeliosRateLimited),
    ):
        c.submit_agent(webhook_url="https://example.test/h", agent_type="light", data={})
    assert waits == [5.0]


def test_an_undocumented_status_raises_helios_error_with_the_status(
    server: Scripted, client: HeliosClient
) -> None:
    server.answer(500, b"upstream exploded")
    with pytest.raises(HeliosError) as excinfo:
        client.submit_lab_results(lab_results=[LAB], webhook_url="https://example.test/h")
    assert type(excinfo.value) is HeliosError
    assert str(excinfo.value) == "POST /api/v1/lab-results answered 500: upstream exploded"


def test_an_unreachable_server_raises_helios_error_not_an_httpx_error(api_key: str) -> None:
    with (
        HeliosClient(api_key, base_url="http://127.0.0.1:9", timeout=2) as c,
        pytest.raises(HeliosError) as excinfo,
    ):
        c.submit_lab_results(lab_results=[LAB], webhook_url="https://example.test/h")
    assert str(excinfo.value).startswith("POST /api/v1/lab-results failed: ConnectError")


def test_the_key_and_base_url_come_from_the_environment(
    server: Scripted, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELIOS_API_KEY", api_key)
    monkeypatch.setenv("HELIOS_BASE_URL", server.url + "/")
    server.answer(200, ACCEPTED)
    with HeliosClient() as c:
        assert c.base_url == server.url
        c.submit_lab_results(lab_results=[LAB], webhook_url="https://example.test/h")
    assert server.requests[0][2]["x-api-key"] == api_key


def test_a_client_without_any_key_says_how_to_provide_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HELIOS_API_KEY", raising=False)
    with pytest.raises(HeliosError) as excinfo:
        HeliosClient()
    assert str(excinfo.value) == "no Helios API key: pass api_key=... or set HELIOS_API_KEY"


def test_the_default_base_url_is_the_real_api(
    api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HELIOS_BASE_URL", raising=False)
    with HeliosClient(api_key) as c:
        assert c.base_url == "https://api.heliosai.health"


def test_the_repr_masks_the_key(api_key: str) -> None:
    with HeliosClient(api_key, base_url="http://127.0.0.1:9") as c:
        assert repr(c) == (
            f"HeliosClient(base_url='http://127.0.0.1:9', api_key='sk_live_…{api_key[-4:]}')"
        )
        assert api_key not in repr(c)


def test_with_key_sends_another_key_with_the_same_settings(
    server: Scripted, client: HeliosClient
) -> None:
    other = "sk_live_" + secrets.token_hex(16)
    server.answer(401, {"error": "Unauthorized", "message": "Invalid API key"})
    with client.with_key(other) as c, pytest.raises(HeliosAuthError):
        c.submit_lab_results(lab_results=[LAB], webhook_url="https://example.test/h")
    assert server.requests[0][2]["x-api-key"] == other


def test_the_async_client_submits_and_maps_errors_like_the_sync_one(
    server: Scripted, api_key: str
) -> None:
    server.answer(200, ACCEPTED)
    server.answer(401, {"error": "Unauthorized", "message": "Invalid API key"})

    async def scenario() -> tuple[str, str]:
        async with AsyncHeliosClient(api_key, base_url=server.url) as c:
            run = await c.submit_lab_results(lab_results=[LAB], webhook_url="https://e.test/h")
            with pytest.raises(HeliosAuthError) as excinfo:
                await c.submit_agent(webhook_url="https://e.test/h", agent_type="light", data={})
            return run.run_id, str(excinfo.value)

    run_id, message = asyncio.run(scenario())
    assert run_id == RUN_ID
    assert message.endswith("(401): Unauthorized: Invalid API key")
    assert server.requests[1][1] == "/api/v1/agent"


def test_the_async_client_retries_429_with_its_async_sleep(server: Scripted, api_key: str) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    server.answer(429, {"error": "Too many concurrent requests"}, {"Retry-After": "1"})
    server.answer(200, ACCEPTED)

    async def scenario() -> str:
        async with AsyncHeliosClient(
            api_key, base_url=server.url, rate_limit_retries=1, sleep=sleep
        ) as c:
            return (
                await c.submit_agent(webhook_url="https://e.test/h", agent_type="light", data={})
            ).run_id

    assert asyncio.run(scenario()) == RUN_ID
    assert waits == [1.0]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"error": "Internal", "message": "bad key {key}"}),
        (502, b"<html><pre>x-api-key: {key}</pre></html>"),
        (200, b"not json {key}"),
        (400, {"error": "Validation Error", "message": "key {key} is odd"}),
    ],
)
def test_a_server_that_echoes_the_key_never_gets_it_into_the_error_message(
    server: Scripted, client: HeliosClient, api_key: str, status: int, body: object
) -> None:
    if isinstance(body, bytes):
        echoed: object = body.replace(b"{key}", api_key.encode())
    else:
        echoed = {k: v.replace("{key}", api_key) for k, v in body.items()}  # type: ignore[attr-defined]
    server.answer(status, echoed)
    with pytest.raises(HeliosError) as excinfo:
        client.submit_lab_results(lab_results=[LAB], webhook_url="https://example.test/h")
    assert api_key not in str(excinfo.value)
    assert api_key not in repr(excinfo.value)
    assert f"sk_live_…{api_key[-4:]}" in str(excinfo.value)


def test_a_server_that_echoes_a_patient_value_never_gets_it_into_the_error_message(
    server: Scripted, client: HeliosClient
) -> None:
    """The field's name stands in for the value, in the message and in ``field_errors``."""
    name, notes = f"Jane Roe{secrets.token_hex(3)}", f"Patient has HIV {secrets.token_hex(3)}"
    echoed = f"age of {name} must be a string"
    server.answer(
        400,
        {
            "error": "Validation Error",
            "message": echoed,
            "details": [{"field": "patientContext.age", "message": f"{echoed} ({notes})"}],
        },
    )
    with pytest.raises(HeliosValidationError) as excinfo:
        client.submit_lab_results(
            lab_results=[LAB],
            webhook_url="https://example.test/h",
            patient_context={"name": name, "age": 58, "clinicalNotes": notes},
        )
    assert str(excinfo.value).splitlines() == [
        "POST /api/v1/lab-results rejected the request (400): "
        "Validation Error: age of <patientContext.name> must be a string",
        "  patientContext.age: age of <patientContext.name> must be a string "
        "(<patientContext.clinicalNotes>)",
    ]
    assert [e.message for e in excinfo.value.field_errors] == [
        "age of <patientContext.name> must be a string (<patientContext.clinicalNotes>)"
    ]
