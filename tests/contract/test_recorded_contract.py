"""The contract as recorded traffic: one cassette per documented scenario, in cassettes/ at the
top of the repository, with each run's webhooks beside it.

By default every test replays its cassette offline: no emulator is started, and every socket
connection is refused except those to this test's own webhook receiver on loopback (where the
replay delivers the recorded webhooks, signed afresh). Re-record the whole set against the
embedded emulator, or against the live API:

    python -m pytest tests/contract/test_recorded_contract.py --helios-record-mode=rewrite
    python -m pytest tests/contract/test_recorded_contract.py --helios-record-mode=rewrite \
        --helios-live --helios-cassette-dir=cassettes-live     # with the HELIOS_* variables

and compare two recordings with ``helios-cassettes drift cassettes cassettes-live``.

The patients here are synthetic, so the module sets a public pseudonym salt: the cassettes
replay on any clone (a real project keeps its salt secret, see docs/cassettes.md).
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_helios import validate
from pytest_helios.cassettes import CassetteConfig
from pytest_helios.contract._relay import Relay
from pytest_helios.facts import (
    AGENT_PATH,
    API_KEY_HEADER,
    BASE_URL,
    CONCURRENCY_HEADERS,
    LAB_RESULTS_PATH,
    UNAUTHORIZED_REASONS,
)
from pytest_helios.webhooks.receiver import WebhookReceiver

pytestmark = pytest.mark.helios_cassette

ROOT = Path(__file__).resolve().parents[2]
#: Public: the data is synthetic (docs/cassettes.md, "The pseudonym salt").
SALT = "pytest-helios contract cassettes, synthetic patients only"
#: Signs the replayed webhooks (and verifies them): public, no account has it.
REPLAY_SECRET = "whsec_" + "0" * 48
MISSING, INVALID, REVOKED, FOREIGN = UNAUTHORIZED_REASONS

LAB = {"name": "Creatinine", "value": "1.8 mg/dL", "flag": "High", "date": "2025-01-15"}
EHR_DATA = {
    "patientInfo": {"age": 45, "gender": "male"},
    "recentAbnormalLabs": [
        {"date": "2025-01-15", "display": "Hemoglobin A1c", "value": "7.2", "unit": "%"}
    ],
}
PATIENT_CONTEXT = {
    "age": "58",
    "gender": "female",
    "conditions": [{"name": "Type 2 Diabetes Mellitus", "status": "active"}],
    "medications": [{"name": "Metformin", "dosage": "1000mg", "frequency": "twice daily"}],
    "socialHistory": "Non-smoker",
}


@pytest.fixture
def helios_cassette_config(helios_cassette_config: CassetteConfig) -> CassetteConfig:
    """cassettes/ at the top of the repository (a --helios-cassette-dir given wins), and the
    public salt of synthetic patients."""
    return dataclasses.replace(
        helios_cassette_config, pseudonym_salt=SALT, cassette_dir=ROOT / "cassettes"
    )


@dataclass
class Api:
    """The target as this test meets it: recording, the emulator account (or the live API);
    replaying, the canonical host, which only the cassette answers."""

    base_url: str
    key: str
    recording: bool
    account: Any = None
    receivers: list[WebhookReceiver] = dataclasses.field(default_factory=list)
    relays: list[Relay] = dataclasses.field(default_factory=list)
    public_urls: dict[str, str] = dataclasses.field(default_factory=dict)

    def post(
        self,
        path: str,
        body: object = None,
        *,
        key: str | None = "",
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        import httpx

        sent = {"content-type": "application/json", **(headers or {})}
        if key is not None:
            sent[API_KEY_HEADER] = key or self.key
        data = content if content is not None else json.dumps(body).encode()
        with httpx.Client(timeout=30) as client:
            return client.post(self.base_url + path, content=data, headers=sent)

    def receiver(self) -> WebhookReceiver:
        """A verifying receiver on loopback for this test's runs (recording against the live
        API: behind HELIOS_CONTRACT_WEBHOOK_URL, relayed from HELIOS_CONTRACT_WEBHOOK_PORT)."""
        if self.account is not None:
            account = self.account
            secrets: Any = lambda: str.__str__(account.webhook_secret)  # noqa: E731
        else:
            secrets = os.environ.get("HELIOS_WEBHOOK_SECRET", REPLAY_SECRET)
        receiver = WebhookReceiver(secrets).start()
        self.receivers.append(receiver)
        if self.recording and self.account is None:
            public = os.environ.get("HELIOS_CONTRACT_WEBHOOK_URL", "")
            port = os.environ.get("HELIOS_CONTRACT_WEBHOOK_PORT", "")
            if not public or not port.isdigit():
                pytest.skip(
                    "recording runs against the live API needs HELIOS_CONTRACT_WEBHOOK_URL "
                    "and HELIOS_CONTRACT_WEBHOOK_PORT (docs/contract-suite.md)"
                )
            relay = Relay(lambda path: receiver.url, port=int(port)).__enter__()
            self.relays.append(relay)
            self.public_urls[receiver.url] = public
        return receiver

    def webhook_url(self, receiver: WebhookReceiver) -> str:
        return self.public_urls.get(receiver.url, receiver.url)


def _is_live(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("helios_live", default=False))


@pytest.fixture
def closing() -> Iterator[list[WebhookReceiver]]:
    """Receivers closed only after the cassette's replayed deliveries have all been made."""
    receivers: list[WebhookReceiver] = []
    yield receivers
    for receiver in receivers:
        receiver.close()


@pytest.fixture
def api(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    closing: list[WebhookReceiver],
    helios_cassette: Any,
) -> Iterator[Api]:
    if not helios_cassette.recording:
        monkeypatch.setenv("HELIOS_WEBHOOK_SECRET", REPLAY_SECRET)
        target = Api(BASE_URL, "sk_live_" + "0" * 32, recording=False, receivers=closing)
    elif _is_live(request):
        key = request.getfixturevalue("helios_api_key")
        target = Api(BASE_URL, key, recording=True, receivers=closing)
    else:
        account = request.getfixturevalue("helios_account")
        key = str.__str__(request.getfixturevalue("helios_api_key"))
        target = Api(account.base_url, key, recording=True, account=account, receivers=closing)
    yield target
    for relay in target.relays:
        relay.__exit__(None, None, None)
    for receiver in target.receivers:
        if target.recording and target.account is None:  # the live API's deliveries
            for delivery in receiver.deliveries:
                if delivery.verified:
                    helios_cassette.capture_webhook(delivery.body, delivery.headers)


@pytest.fixture(autouse=True)
def offline(
    monkeypatch: pytest.MonkeyPatch, closing: list[WebhookReceiver], helios_cassette: Any
) -> Callable[[int], None]:
    """Replaying: every socket connection is refused but loopback to this test's receivers."""
    allowed: set[int] = set()
    if helios_cassette.recording:
        return allowed.add
    connect = socket.socket.connect

    def guarded(sock: socket.socket, address: Any) -> Any:
        host, port = address[0], address[1]
        if host in ("127.0.0.1", "::1") and port in allowed:
            return connect(sock, address)
        raise OSError(f"network closed for this replay: {host}:{port}")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return allowed.add


@pytest.fixture
def receiver(api: Api, offline: Callable[[int], None]) -> WebhookReceiver:
    found = api.receiver()
    offline(int(found.url.split(":")[2].split("/")[0]))
    return found


def provider_state(api: Api, what: str) -> None:
    """An emulator-only state; recording against the live API skips the test."""
    if api.recording and api.account is None:
        pytest.skip(f"the live API cannot be made to {what} on demand")


def wait_for_sequence(receiver: WebhookReceiver, run_id: str, number: int) -> None:
    deadline = time.monotonic() + receiver.default_timeout
    while number not in [p.get("sequenceNumber") for p in receiver.payloads(run_id)]:
        assert time.monotonic() < deadline, f"delivery {number} of {run_id} never arrived"
        time.sleep(0.02)


def assert_accepted(response: Any) -> str:
    assert response.status_code == 200, response.text
    validate("accepted-response", response.json())
    assert all(name in response.headers for name in CONCURRENCY_HEADERS)
    run_id: str = response.json()["runId"]
    return run_id


def assert_run(receiver: WebhookReceiver, run_id: str, agent: str, final_at: int) -> None:
    final = receiver.wait_for_final(run_id)
    payloads = receiver.payloads(run_id)
    for payload in payloads:
        validate("webhook", payload)
    assert [p["sequenceNumber"] for p in payloads] == list(range(1, final_at + 1))
    assert {p["status"] for p in payloads[:-1]} == {"processing"}
    assert final["status"] == "completed"
    assert final["agent"] == agent


def assert_refused(response: Any, status: int, schema: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    # "Every response carries concurrency headers" (helios-api.md section 2.1, [S:intro])
    assert all(name in response.headers for name in CONCURRENCY_HEADERS), response.headers
    body: dict[str, Any] = response.json()
    if schema is not None:
        validate(schema, body)
    return body


# --- each endpoint accepted, with its webhooks -----------------------------------------------


def test_a_light_run_is_accepted_and_delivers_its_status_updates_and_result(
    api: Api, receiver: WebhookReceiver
) -> None:
    body = {"webhookUrl": api.webhook_url(receiver), "agentType": "light", "data": EHR_DATA}
    assert_run(receiver, assert_accepted(api.post(AGENT_PATH, body)), "light", 9)


def test_a_deep_run_is_accepted_and_delivers_its_research_tasks(
    api: Api, receiver: WebhookReceiver
) -> None:
    body = {"webhookUrl": api.webhook_url(receiver), "agentType": "deep", "data": EHR_DATA}
    run_id = assert_accepted(api.post(AGENT_PATH, body))
    assert_run(receiver, run_id, "deep", 8)
    assert receiver.payloads(run_id)[-1]["result"]["researchTasks"]


def test_a_lab_results_run_is_accepted_and_delivers_its_labs(
    api: Api, receiver: WebhookReceiver
) -> None:
    body = {"webhookUrl": api.webhook_url(receiver), "labResults": [LAB]}
    run_id = assert_accepted(api.post(LAB_RESULTS_PATH, body))
    assert_run(receiver, run_id, "lab-results", 8)
    assert receiver.payloads(run_id)[-1]["result"]["metadata"]["labsReceived"] == 1


def test_a_patient_report_from_labs_and_patient_context_is_delivered(
    api: Api, receiver: WebhookReceiver
) -> None:
    """The patient report: a lab-results run with the documented patientContext."""
    url = api.webhook_url(receiver)
    body = {"webhookUrl": url, "labResults": [LAB], "patientContext": PATIENT_CONTEXT}
    run_id = assert_accepted(api.post(LAB_RESULTS_PATH, body))
    assert_run(receiver, run_id, "lab-results", 8)
    assert receiver.payloads(run_id)[-1]["result"]["patientResponse"]


def test_a_failed_run_delivers_the_error_webhook(api: Api, receiver: WebhookReceiver) -> None:
    provider_state(api, "fail a run")
    if api.account is not None:
        api.account.fail_next_run("Processing failed")
    body = {"webhookUrl": api.webhook_url(receiver), "agentType": "light", "data": EHR_DATA}
    run_id = assert_accepted(api.post(AGENT_PATH, body))
    final = receiver.wait_for_final(run_id)
    validate("webhook", final)
    assert final["status"] == "error"
    assert final["error"]["message"] == "Processing failed"


def test_a_delivery_answered_503_is_retried_and_the_run_completes(
    api: Api, receiver: WebhookReceiver
) -> None:
    if api.recording:
        receiver.fail_next(1, status=503)
    body = {"webhookUrl": api.webhook_url(receiver), "labResults": [LAB]}
    run_id = assert_accepted(api.post(LAB_RESULTS_PATH, body))
    receiver.wait_for_final(run_id)
    if api.recording:  # the first delivery, answered 503, arrives again
        wait_for_sequence(receiver, run_id, 1)
        assert [d.answered for d in receiver.deliveries].count(503) == 1
    assert_run(receiver, run_id, "lab-results", 8)


# --- 400: each family -------------------------------------------------------------------------

SOMEWHERE = "https://example.invalid/h"
#: (cassette name, endpoint, body, the field the 400 names)
BAD_REQUESTS = [
    ("400-not-json", AGENT_PATH, b"{not json", "$"),
    ("400-no-agent-type", AGENT_PATH, {"webhookUrl": SOMEWHERE, "data": EHR_DATA}, "agentType"),
    (
        "400-unknown-agent-type",
        AGENT_PATH,
        {"webhookUrl": SOMEWHERE, "agentType": "ehr", "data": EHR_DATA},
        "agentType",
    ),
    (
        "400-empty-data",
        AGENT_PATH,
        {"webhookUrl": SOMEWHERE, "agentType": "light", "data": {}},
        "data",
    ),
    ("400-no-labs", LAB_RESULTS_PATH, {"webhookUrl": SOMEWHERE, "labResults": []}, "labResults"),
    (
        "400-lab-value-a-number",
        LAB_RESULTS_PATH,
        {"webhookUrl": SOMEWHERE, "labResults": [{**LAB, "value": 1.8}]},
        "labResults[0].value",
    ),
    ("400-no-webhook-url", LAB_RESULTS_PATH, {"labResults": [LAB]}, "webhookUrl"),
    (
        "400-webhook-url-no-url",
        LAB_RESULTS_PATH,
        {"webhookUrl": "not a url", "labResults": [LAB]},
        "webhookUrl",
    ),
    (
        "400-unknown-field",
        LAB_RESULTS_PATH,
        {"webhookUrl": SOMEWHERE, "labResults": [LAB], "priority": "high"},
        "",
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        pytest.param(path, body, field, id=name, marks=pytest.mark.helios_cassette(name=name))
        for name, path, body, field in BAD_REQUESTS
    ],
)
def test_a_bad_request_is_refused_with_400_naming_the_field(
    api: Api, path: str, body: Any, field: str
) -> None:
    content = body if isinstance(body, bytes) else None
    answer = assert_refused(api.post(path, body, content=content), 400, "validation-error")
    fields = [d["field"] for d in answer["details"]]
    assert field in fields or field == "$", fields


# --- 401: the four documented causes ----------------------------------------------------------


def test_a_request_without_an_api_key_is_refused_as_missing(api: Api) -> None:
    body = {"webhookUrl": SOMEWHERE, "labResults": [LAB]}
    answer = assert_refused(api.post(LAB_RESULTS_PATH, body, key=None), 401, "unauthorized-error")
    assert answer["message"] == MISSING


def test_an_unknown_api_key_is_refused_as_invalid(api: Api) -> None:
    body = {"webhookUrl": SOMEWHERE, "labResults": [LAB]}
    response = api.post(LAB_RESULTS_PATH, body, key="sk_live_" + "f" * 32)
    assert assert_refused(response, 401, "unauthorized-error")["message"] == INVALID


def test_a_revoked_api_key_is_refused_as_revoked(api: Api, request: pytest.FixtureRequest) -> None:
    key = str.__str__(request.getfixturevalue("revoked_key")) if api.recording else "revoked"
    body = {"webhookUrl": SOMEWHERE, "labResults": [LAB]}
    response = api.post(LAB_RESULTS_PATH, body, key=key)
    assert assert_refused(response, 401, "unauthorized-error")["message"] == REVOKED


def test_a_key_of_another_account_is_refused_as_foreign(
    api: Api, request: pytest.FixtureRequest
) -> None:
    key = str.__str__(request.getfixturevalue("foreign_key")) if api.recording else "foreign"
    body = {"webhookUrl": SOMEWHERE, "labResults": [LAB]}
    response = api.post(LAB_RESULTS_PATH, body, key=key)
    assert assert_refused(response, 401, "unauthorized-error")["message"] == FOREIGN


# --- 429, 404, 405 ----------------------------------------------------------------------------


def test_at_the_concurrency_limit_a_request_gets_429_with_its_headers(api: Api) -> None:
    provider_state(api, "fill the concurrency slots")
    if api.account is not None:
        api.account.exhaust_concurrency("light")
    body = {"webhookUrl": SOMEWHERE, "agentType": "light", "data": EHR_DATA}
    response = api.post(AGENT_PATH, body)
    answer = assert_refused(response, 429, "rate-limit-error")
    assert answer["message"] == "You have 7 active light agent requests. Maximum is 7."
    assert response.headers["X-Concurrent-Remaining"] == "0"
    assert response.headers["Retry-After"].isdigit()


def test_replaying_no_connection_leaves_for_anything_but_the_tests_receivers(
    api: Api, receiver: WebhookReceiver
) -> None:
    if api.recording:
        pytest.skip("a replay-only check: recording reaches the emulator")
    with pytest.raises(OSError, match=r"network closed for this replay: 127\.0\.0\.1:9$"):
        socket.create_connection(("127.0.0.1", 9))
    with pytest.raises(OSError, match="network closed for this replay"):
        socket.create_connection(("93.184.215.14", 443))


def test_an_unknown_path_is_answered_404(api: Api) -> None:
    answer = assert_refused(api.post("/api/v1/unknown", {}), 404)
    assert answer["error"] == "Not Found"
