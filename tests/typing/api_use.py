"""A user's test module, written against the public API only; ``mypy --strict`` must pass on it.

Not collected by pytest (no ``test_`` prefix): ``test_typing.py`` type-checks it, and checks
that ``misuse.py`` fails exactly where it says.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import given
from typing_extensions import assert_type

import pytest_helios
from pytest_helios import (
    SCHEMA_NAMES,
    AcceptedRun,
    ContractViolation,
    HeliosAuthError,
    HeliosClient,
    HeliosEmulator,
    MalformedBody,
    MaskedSecret,
    VerifierMisconfigured,
    WebhookVerificationError,
    conformance,
    mask_secret,
    sign_webhook,
    strategies,
    validate,
    verify_webhook,
)
from pytest_helios.cassettes import CassetteConfig, CassetteExpiredWarning, session_secrets
from pytest_helios.payloads import STEP_NAMES, load_schema, status_update
from pytest_helios.webhooks import (
    CASE_NAMES,
    Delivery,
    DeliveryResponse,
    EndpointConformance,
    FakeRun,
    ReceivedWebhook,
    Variant,
    VerifierConformance,
    WebhookFactory,
    WebhookReceiver,
    check_verifier,
    serve_wsgi,
    verify_webhook_signature,
)

SECRET = "whsec_typing_example_secret"


def submit(client: HeliosClient, webhook_url: str) -> str:
    run = client.submit_lab_results(
        lab_results=[{"name": "Creatinine", "value": "1.8 mg/dL"}], webhook_url=webhook_url
    )
    assert_type(run, AcceptedRun)
    return run.run_id


def refused(client: HeliosClient, key: str) -> str | None:
    try:
        client.with_key(key).submit_agent(
            webhook_url="https://example.test", agent_type="light", data={}
        )
    except HeliosAuthError as error:
        return str(error)
    return None


def handle(body: bytes, headers: dict[str, str]) -> int:
    try:
        payload = verify_webhook(body, headers, [SECRET, "whsec_previous"], tolerance=300)
    except (MalformedBody, VerifierMisconfigured):
        return 500
    except WebhookVerificationError:
        return 400
    assert_type(payload, dict[str, Any])
    raw: bytes = verify_webhook_signature(body, headers, SECRET)
    return 200 if raw else 400


def fakes() -> list[int]:
    factory = WebhookFactory(SECRET, clock=lambda: 1_700_000_000)
    delivery = factory("lab-results", sequenceNumber=8)
    assert_type(delivery, Delivery)
    variant = delivery.variant("tampered-body")
    assert_type(variant, Variant)
    run = factory.run("deep").shuffled(seed=1).with_duplicates(2)
    assert_type(run, FakeRun)
    headers: dict[str, str] = sign_webhook(delivery.body, SECRET, timestamp=1, run_id="r")
    with serve_wsgi(lambda environ, start_response: [b""]) as url:
        answer = variant.send(url)
    assert_type(answer, DeliveryResponse)
    return [answer.status_code, len(headers), len(run)]


def receive() -> list[ReceivedWebhook]:
    with WebhookReceiver([SECRET]) as receiver:
        final: dict[str, Any] = receiver.wait_for_final("run-id", timeout=1.0)
        assert final
        return receiver.rejected


def emulator() -> str:
    with HeliosEmulator() as emu:
        key = emu.create_account("acme").create_key("ci")
        return key.value


def contract(payload: object) -> list[str]:
    try:
        validate("webhook", payload)
    except ContractViolation as violation:
        return [str(violation)]
    schema: dict[str, Any] = load_schema("webhook")
    steps: tuple[str, ...] = STEP_NAMES["lab-results"]
    update: dict[str, Any] = status_update("run-id", "light", 1, timestamp="2025-01-15T00:00:00Z")
    return [*SCHEMA_NAMES, *schema, *steps, *update]


@given(strategies.webhook_payloads(kind="lab-results-completed"))
def test_every_lab_results_webhook_is_valid(payload: dict[str, Any]) -> None:
    validate("webhook", payload)


def verifier(body: bytes, headers: dict[str, str], secret: str) -> bool:
    try:
        verify_webhook(body, headers, secret)
    except WebhookVerificationError:
        return False
    return True


def conformance_kits() -> tuple[str, ...]:
    check_verifier(verifier, properties=False)
    conformance.check_verifier(verifier, max_examples=5)
    return CASE_NAMES


class TestMyVerifier(VerifierConformance):
    max_examples = 20

    def accepts(self, body: bytes, headers: dict[str, str], secret: str) -> bool:
        return verifier(body, headers, secret)


class TestMyEndpoint(EndpointConformance):
    secret = SECRET

    def target(self) -> object:
        return "http://127.0.0.1:8000/hook"


def cassettes(config: CassetteConfig, pytest_config: object) -> CassetteConfig:
    session_secrets(pytest_config).add("s3cr3t-value-of-the-test", "a test's own secret")
    assert issubclass(CassetteExpiredWarning, UserWarning)
    return dataclasses.replace(config, record_mode="once")


def masked(value: str) -> tuple[str, str, str]:
    secret = MaskedSecret(value)
    return mask_secret(secret), repr(secret), pytest_helios.__version__
