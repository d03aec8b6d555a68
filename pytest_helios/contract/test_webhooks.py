"""Every webhook kind, received by ``helios_webhook_receiver`` and checked against the schemas:
the status updates of each agent, its final payload, and the error webhook of a failed run.

Besides each payload's schema, a run's deliveries must follow the assumed numbering: a status
update for every step, ``sequenceNumber`` and ``step`` 1..N named as
``pytest_helios.payloads.builders`` lists them, then the final payload with N + 1 (9 light,
8 deep, 8 lab-results).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from pytest_helios.contract._recorder import ContractRecorder
from pytest_helios.contract._relay import Relay
from pytest_helios.contract._support import (
    WEBHOOK_PORT_VARIABLE,
    WEBHOOK_URL_VARIABLE,
    Target,
    agent_body,
    extra_runs_allowed,
    fragment,
    json_body,
    lab_body,
    skip,
)
from pytest_helios.facts import AGENT_PATH, API_KEY_HEADER, LAB_RESULTS_PATH, check_agent
from pytest_helios.payloads import builders as payloads
from pytest_helios.webhooks.receiver import WebhookReceiver

STATUS_UPDATE = "webhook-status-update.json#"
#: A header that would identify an event or a delivery (none is documented: gap 3).
ID_HEADER = re.compile(r"(event|delivery|idempotency|message|webhook)[-_]?(id|key)$", re.I)
SECRET_SHAPE = re.compile(r"whsec_[0-9a-f]{48}")
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


def _header(headers: dict[str, str] | Any, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def observe_deliveries(
    contract: ContractRecorder, agent: str, receiver: WebhookReceiver, run_id: str
) -> None:
    """What a run's deliveries show of the gaps the schemas cannot see: the signature covers
    the raw body only (1), ``(runId, sequenceNumber)`` is the only identity (3), no
    ``x-api-key`` is sent (13), ``agent`` is present (14), the two timestamps agree (15), and
    first attempts arrive in sequence order."""
    source = f"{agent} run's webhooks"
    mine = [d for d in receiver.deliveries if d.run_id == run_id]
    if mine:  # each verified as documented: HMAC-SHA256 of the raw body alone
        contract.confirm("gap:unsigned-timestamp", source)
    bodies: dict[object, set[bytes]] = {}
    for delivery in mine:
        bodies.setdefault(delivery.sequence_number, set()).add(delivery.body)
    clashes = sorted(str(n) for n, seen in bodies.items() if len(seen) > 1)
    id_headers = sorted({k for d in mine for k in d.headers if ID_HEADER.search(k)})
    if clashes or id_headers:
        observed = f"different payloads share sequenceNumber {clashes}" if clashes else ""
        observed += f" headers {id_headers}" if id_headers else ""
        contract.contradict("gap:deduplication", source, observed.strip())
    elif mine:
        contract.confirm("gap:deduplication", source)
    with_key = [d for d in mine if _header(d.headers, API_KEY_HEADER) is not None]
    if with_key:
        contract.contradict("gap:no-api-key-on-webhooks", source, "a delivery with x-api-key")
    elif mine:
        contract.confirm("gap:no-api-key-on-webhooks", source)
    final = [d.payload for d in mine if d.payload and d.payload.get("status") == "completed"]
    for payload in final:
        if payload.get("agent") == agent:
            contract.confirm("gap:agent-field", source)
        else:
            contract.contradict("gap:agent-field", source, f"agent = {payload.get('agent')!r}")
    for delivery in mine:
        observe_timestamps(contract, source, delivery.headers, delivery.payload or {})
    order = []
    for delivery in mine:
        if delivery.sequence_number not in order:
            order.append(delivery.sequence_number)
    if order == sorted(order, key=lambda n: n if isinstance(n, int) else 0):
        contract.confirm("behaviour:first-attempt-order", source)
    else:
        contract.contradict("behaviour:first-attempt-order", source, f"arrival order {order}")


def observe_timestamps(
    contract: ContractRecorder, source: str, headers: Any, payload: dict[str, Any]
) -> None:
    """Gap 15: the body's ISO 8601 ``timestamp`` and ``X-Helios-Timestamp`` in Unix seconds
    name the same moment, within the verifier's 300 s tolerance."""
    header = _header(headers, "X-Helios-Timestamp") or ""
    body = str(payload.get("timestamp", ""))
    try:
        sent = datetime.fromisoformat(body.replace("Z", "+00:00")).timestamp()
    except ValueError:
        sent = None
    if header.isdigit() and sent is not None and abs(int(header) - sent) <= 300:
        contract.confirm("gap:two-timestamps", source)
    else:
        observed = f"X-Helios-Timestamp {header!r}, timestamp {body!r}"
        contract.contradict("gap:two-timestamps", source, observed)


def observe_secret(contract: ContractRecorder, secret: str) -> None:
    """The webhook secret's format (none is documented); only its shape is ever shown."""
    source = "the account's webhook secret"
    if SECRET_SHAPE.fullmatch(secret):
        contract.confirm("behaviour:webhook-secret-format", source)
    else:
        prefix = "starts whsec_" if secret.startswith("whsec_") else "does not start whsec_"
        observed = f"a secret of {len(secret)} characters that {prefix}"
        contract.contradict("behaviour:webhook-secret-format", source, observed)


@pytest.mark.parametrize("agent", ["light", "deep", "lab-results"])
def test_a_run_delivers_its_status_updates_then_its_completed_payload(
    request: pytest.FixtureRequest,
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
    observe_deliveries(contract, agent, receiver, run_id)
    observe_secret(contract, request.getfixturevalue("helios_webhook_secret"))
    assert receiver.rejected == [], [d.rejection for d in receiver.rejected]


def test_a_delivery_answered_503_arrives_again(
    request: pytest.FixtureRequest,
    target: Target,
    contract: ContractRecorder,
    api_key: str,
    webhooks: Webhooks,
) -> None:
    """Retries (gap 2): a delivery not answered with a 2xx is sent again."""
    extra_runs_allowed(request, "the retry contract starts a light run")
    receiver = webhooks.receiver
    receiver.fail_next(1, status=503)
    run_id = start_run(target, api_key, "light", webhooks.url)
    receiver.wait_for_final(run_id)
    failed = receiver.deliveries[0]
    number = json.loads(failed.body).get("sequenceNumber")
    deadline = time.monotonic() + receiver.default_timeout
    while number not in [p.get("sequenceNumber") for p in receiver.payloads(run_id)]:
        if time.monotonic() > deadline:
            observed = f"delivery {number} answered 503 never arrived again"
            contract.contradict("behaviour:retries", "a delivery answered 503", observed)
            pytest.fail(observed)
        time.sleep(0.02)
    contract.confirm("behaviour:retries", "a delivery answered 503")


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
