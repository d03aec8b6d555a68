"""Every webhook kind, received by ``helios_webhook_receiver`` and checked against the schemas:
the status updates of each agent, its final payload, and the error webhook of a failed run.

Besides each payload's schema, a run's deliveries must follow the assumed numbering: status
updates with ``sequenceNumber`` and ``step`` 1..F-1 named as
``pytest_helios.payloads.builders`` lists them, then the final payload with F (7 light,
8 deep, 8 lab-results).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_helios.contract._recorder import ContractRecorder
from pytest_helios.contract._relay import Relay
from pytest_helios.contract._support import (
    WEBHOOK_PORT_VARIABLE,
    WEBHOOK_URL_VARIABLE,
    Target,
    agent_body,
    fragment,
    json_body,
    lab_body,
    skip,
)
from pytest_helios.facts import AGENT_PATH, API_KEY_HEADER, LAB_RESULTS_PATH, check_agent
from pytest_helios.payloads import builders as payloads
from pytest_helios.webhooks.receiver import WebhookReceiver

STATUS_UPDATE = "webhook-status-update.json#"
SEQUENCE = "definitions.json#/$defs/sequenceNumber"


@dataclass(frozen=True)
class Webhooks:
    """Where the target delivers this test's webhooks (``url``) and how the test reads them."""

    url: str
    receiver: WebhookReceiver


@pytest.fixture
def webhooks(request: pytest.FixtureRequest, target: Target) -> Iterator[Webhooks]:
    """The emulator delivers to ``helios_webhook_receiver`` directly; the live API to the
    public HELIOS_CONTRACT_WEBHOOK_URL, which the user forwards to a relay on
    127.0.0.1:HELIOS_CONTRACT_WEBHOOK_PORT that hands each delivery to the receiver."""
    if not target.live:
        receiver: WebhookReceiver = request.getfixturevalue("helios_webhook_receiver")
        yield Webhooks(receiver.url, receiver)
        return
    public = os.environ.get(WEBHOOK_URL_VARIABLE, "")
    if not public:
        skip(
            request,
            f"{WEBHOOK_URL_VARIABLE} is not set: the live API delivers webhooks only to a "
            f"public URL; set it to one that forwards to 127.0.0.1:${WEBHOOK_PORT_VARIABLE}",
        )
    port = os.environ.get(WEBHOOK_PORT_VARIABLE, "")
    if not port.isdigit():
        skip(
            request,
            f"{WEBHOOK_PORT_VARIABLE} is not set: the local port that {WEBHOOK_URL_VARIABLE} "
            "forwards to, where the suite relays deliveries to helios_webhook_receiver",
        )
    receiver = request.getfixturevalue("helios_webhook_receiver")
    with Relay(lambda path: receiver.url, port=int(port)):
        yield Webhooks(public, receiver)


def start_run(target: Target, api_key: str, agent: str, url: str) -> str:
    __tracebackhide__ = True
    if agent == "lab-results":
        response = target.post(LAB_RESULTS_PATH, lab_body(url), {API_KEY_HEADER: api_key})
    else:
        response = target.post(AGENT_PATH, agent_body(url, agent), {API_KEY_HEADER: api_key})
    assert response.status_code == 200, f"expected 200, got {fragment(response)}"
    run_id: str = json_body(response)["runId"]
    return run_id


def check_numbering(
    contract: ContractRecorder, agent: str, received: list[dict[str, Any]], final_at: int
) -> None:
    """The run's deliveries are numbered 1..final_at, status updates step by step."""
    __tracebackhide__ = True
    source = f"{agent} run's webhooks"
    numbers = [p.get("sequenceNumber") for p in received]
    if numbers != list(range(1, final_at + 1)):
        contract.contradict(SEQUENCE, source, f"sequenceNumbers {numbers}")
        pytest.fail(f"{agent}: sequenceNumbers {numbers}, expected 1..{final_at}")
    contract.confirm(SEQUENCE, source)
    names = payloads.STEP_NAMES[check_agent(agent)]
    steps = [
        (p.get("step"), p.get("totalSteps"), p.get("stepName"))
        for p in received
        if p.get("status") == "processing"
    ]
    expected = [(n, len(names), names[n - 1]) for n in range(1, final_at)]
    if steps != expected:
        contract.contradict(STATUS_UPDATE, source, f"(step, totalSteps, stepName): {steps}")
        pytest.fail(f"{agent}: status updates {steps}, expected {expected}")
    contract.confirm(STATUS_UPDATE, source)


@pytest.mark.parametrize("agent", ["light", "deep", "lab-results"])
def test_a_run_delivers_its_status_updates_then_its_completed_payload(
    target: Target,
    contract: ContractRecorder,
    api_key: str,
    webhooks: Webhooks,
    agent: str,
) -> None:
    receiver = webhooks.receiver
    run_id = start_run(target, api_key, agent, webhooks.url)
    final = receiver.wait_for_final(run_id)
    received = receiver.payloads(run_id)
    for payload in received:
        contract.check("webhook", payload, f"{agent} {payload.get('status')} webhook")
    assert final["status"] == "completed", f"{agent} run ended with {final['status']!r}"
    assert final.get("agent") == agent
    final_at = payloads.FINAL_SEQUENCE_NUMBER[check_agent(agent)]
    check_numbering(contract, agent, received, final_at)
    assert receiver.rejected == [], [d.rejection for d in receiver.rejected]


def test_a_failed_run_delivers_the_error_webhook_in_place_of_its_result(
    request: pytest.FixtureRequest,
    target: Target,
    contract: ContractRecorder,
    api_key: str,
    webhooks: Webhooks,
) -> None:
    if target.live:
        skip(
            request,
            "the live API cannot be made to fail a run on demand; the error webhook is "
            "checked against the emulator (provider state fail_next_run)",
        )
    request.getfixturevalue("helios_account").fail_next_run("Processing failed")
    receiver = webhooks.receiver
    run_id = start_run(target, api_key, "light", webhooks.url)
    final = receiver.wait_for_final(run_id)
    received = receiver.payloads(run_id)
    for payload in received:
        contract.check("webhook", payload, f"light {payload.get('status')} webhook")
    assert final["status"] == "error"
    check_numbering(contract, "light", received, payloads.FINAL_SEQUENCE_NUMBER["light"])
    assert receiver.rejected == [], [d.rejection for d in receiver.rejected]
