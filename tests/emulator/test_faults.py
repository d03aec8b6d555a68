"""Webhook faults as a receiver meets them: out of order, duplicated, badly signed; and fault
injection through the HTTP admin API."""

from __future__ import annotations

import json

import httpx
import pytest

from pytest_helios import HeliosClient, HeliosError
from pytest_helios.emulator import Account, HeliosEmulator
from pytest_helios.webhooks import WebhookReceiver

LABS = [{"name": "Ferritin", "value": "8 ng/mL", "flag": "Low"}]


def run_to_the_end(
    client: HeliosClient, emulator: HeliosEmulator, receiver: WebhookReceiver
) -> str:
    run = client.submit_lab_results(lab_results=LABS, webhook_url=receiver.url)
    emulator.wait_for_deliveries(run_id=run.run_id)
    return run.run_id


def test_a_reordered_run_arrives_last_first_and_payloads_puts_it_back_in_order(
    helios_client: HeliosClient,
    helios_emulator: HeliosEmulator,
    helios_account: Account,
    helios_webhook_receiver: WebhookReceiver,
) -> None:
    helios_account.reorder_next_run()

    run_id = run_to_the_end(helios_client, helios_emulator, helios_webhook_receiver)

    arrived = [d.sequence_number for d in helios_webhook_receiver.deliveries]
    assert arrived == [8, 7, 6, 5, 4, 3, 2, 1]
    in_order = helios_webhook_receiver.payloads(run_id)
    assert [p["sequenceNumber"] for p in in_order] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert in_order[-1]["status"] == "completed"
    # only the next run: the one after arrives in order
    second = run_to_the_end(helios_client, helios_emulator, helios_webhook_receiver)
    assert [a.sequence_number for a in helios_emulator.deliveries_for(second)] == [*range(1, 9)]


def test_duplicated_deliveries_arrive_twice_and_payloads_keeps_each_once(
    helios_client: HeliosClient,
    helios_emulator: HeliosEmulator,
    helios_account: Account,
    helios_webhook_receiver: WebhookReceiver,
) -> None:
    helios_account.duplicate_deliveries(3)

    run_id = run_to_the_end(helios_client, helios_emulator, helios_webhook_receiver)

    arrived = [d.sequence_number for d in helios_webhook_receiver.deliveries]
    assert arrived == [1, 1, 2, 2, 3, 3, 4, 5, 6, 7, 8]
    assert all(d.verified for d in helios_webhook_receiver.deliveries)
    assert len(helios_webhook_receiver.payloads(run_id)) == 8


def test_a_badly_signed_delivery_is_refused_by_the_receiver_and_the_retry_is_accepted(
    helios_client: HeliosClient,
    helios_emulator: HeliosEmulator,
    helios_account: Account,
    helios_webhook_receiver: WebhookReceiver,
) -> None:
    helios_account.bad_signatures(1)

    run_id = run_to_the_end(helios_client, helios_emulator, helios_webhook_receiver)

    (refused,) = helios_webhook_receiver.rejected
    assert (json.loads(refused.body)["sequenceNumber"], refused.answered) == (1, 400)
    assert refused.rejection == (
        "SignatureMismatch: X-Helios-Signature does not match the body signed with the webhook "
        "secret: verify the exact raw request bytes (not re-serialized JSON) with the current "
        "secret"
    )
    first = [a for a in helios_emulator.deliveries_for(run_id) if a.sequence_number == 1]
    assert [(a.attempt, a.status_code) for a in first] == [(1, 400), (2, 200)]
    assert len(helios_webhook_receiver.payloads(run_id)) == 8


def test_ending_the_faults_ends_the_webhook_faults_too(
    helios_client: HeliosClient,
    helios_emulator: HeliosEmulator,
    helios_account: Account,
    helios_webhook_receiver: WebhookReceiver,
) -> None:
    helios_account.reorder_next_run()
    helios_account.duplicate_deliveries(100)
    helios_account.bad_signatures(100)
    helios_account.end_faults()

    run_to_the_end(helios_client, helios_emulator, helios_webhook_receiver)

    arrived = [d.sequence_number for d in helios_webhook_receiver.deliveries]
    assert arrived == [*range(1, 9)]
    assert helios_webhook_receiver.rejected == []


def admin(emulator: HeliosEmulator, account: Account, body: object) -> httpx.Response:
    return httpx.post(f"{emulator.url}/_emulator/accounts/{account.id}/states", json=body)


def test_the_admin_api_injects_a_request_fault_that_the_client_then_meets(
    helios_client: HeliosClient, helios_emulator: HeliosEmulator, helios_account: Account
) -> None:
    answer = admin(
        helios_emulator,
        helios_account,
        {"state": "fault-requests", "fault": "status", "status": 502},
    )
    assert answer.status_code == 200, answer.text

    with pytest.raises(HeliosError) as raised:
        helios_client.submit_lab_results(lab_results=LABS, webhook_url="https://example.test/h")

    assert raised.value.status_code == 502


def test_the_admin_api_ends_the_faults(
    helios_client: HeliosClient, helios_emulator: HeliosEmulator, helios_account: Account
) -> None:
    admin(
        helios_emulator,
        helios_account,
        {"state": "fault-requests", "fault": "reset", "count": None},
    )
    assert admin(helios_emulator, helios_account, {"state": "end-faults"}).status_code == 200

    run = helios_client.submit_lab_results(lab_results=LABS, webhook_url="https://example.test/h")

    assert run.status == "accepted"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"state": "fault-requests", "fault": "status", "status": 404}, "status",
         "must be a whole number from 500 to 599, got 404"),
        ({"state": "fault-requests", "fault": "timeout", "delay": 301}, "delay",
         "must be a number of seconds above 0 to 300, got 301"),
        ({"state": "fault-requests"}, "fault", "is required"),
        ({"state": "duplicate-deliveries", "count": 10_001}, "count",
         "must be a whole number from 0 to 10,000, got 10001"),
        ({"state": "bad-signatures", "count": "2"}, "count", "expected integer"),
        ({"state": "next-result", "result": [1]}, "result", "expected object"),
    ],
)  # fmt: skip
def test_the_admin_api_refuses_a_bad_fault_naming_the_field(
    helios_emulator: HeliosEmulator,
    helios_account: Account,
    body: object,
    field: str,
    message: str,
) -> None:
    answer = admin(helios_emulator, helios_account, body)

    assert answer.status_code == 400
    assert answer.json()["details"] == [{"field": field, "message": message}]
