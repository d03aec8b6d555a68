"""Provider states force outcomes for a test: failed runs, lost or slow deliveries, rotation."""

from __future__ import annotations

import math

import httpx
import pytest

from pytest_helios import validate, verify_webhook
from pytest_helios.emulator import Account, HeliosEmulator
from tests.samples import agent_request, lab_request

from .conftest import post, post_as
from .receiver import Receiver


def run_once(emulator: HeliosEmulator, client: httpx.Client, body: object, path: str) -> str:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    emulator.wait_for_deliveries()
    return str(response.json()["runId"])


def test_fail_next_run_replaces_the_final_payload_with_an_error_webhook(
    emulator: HeliosEmulator, client: httpx.Client, account: Account, receiver: Receiver
) -> None:
    account.fail_next_run("Upstream model unavailable", code="model_unavailable")
    run_id = run_once(emulator, client, agent_request("light", receiver.url), "/api/v1/agent")
    log = emulator.deliveries_for(run_id)
    assert [(a.sequence_number, a.status) for a in log] == [
        *[(n, "processing") for n in range(1, 9)],
        (9, "error"),
    ]
    error = log[-1].payload
    validate("webhook-error", error)
    validate("webhook", error)
    assert error["error"] == {"message": "Upstream model unavailable", "code": "model_unavailable"}
    assert emulator.run(run_id).status == "error"


def test_a_run_can_be_made_to_fail_at_a_given_step(
    emulator: HeliosEmulator, client: httpx.Client, account: Account, receiver: Receiver
) -> None:
    account.fail_next_run("Parsing failed", code=None, at_step=3)
    run_id = run_once(emulator, client, lab_request(receiver.url), "/api/v1/lab-results")
    log = emulator.deliveries_for(run_id)
    assert [(a.sequence_number, a.status) for a in log] == [
        (1, "processing"),
        (2, "processing"),
        (3, "error"),
    ]
    assert log[-1].payload["error"] == {"message": "Parsing failed"}


def test_only_the_next_run_fails(
    emulator: HeliosEmulator, client: httpx.Client, account: Account, receiver: Receiver
) -> None:
    account.fail_next_run()
    failed = run_once(emulator, client, agent_request("deep", receiver.url), "/api/v1/agent")
    passed = run_once(emulator, client, agent_request("deep", receiver.url), "/api/v1/agent")
    assert emulator.run(failed).status == "error"
    assert emulator.run(passed).status == "completed"
    assert emulator.deliveries_for(failed)[-1].payload["error"] == {
        "message": "Processing failed",
        "code": "processing_failed",
    }


def test_dropped_deliveries_are_never_sent_and_are_retried(
    emulator: HeliosEmulator, client: httpx.Client, account: Account, receiver: Receiver
) -> None:
    account.drop_deliveries(2)
    run_id = run_once(emulator, client, agent_request("light", receiver.url), "/api/v1/agent")
    dropped = [a for a in emulator.deliveries_for(run_id) if a.error]
    assert [(a.attempt, a.status_code, a.error) for a in dropped] == [
        (1, None, "dropped (provider state)"),
        (1, None, "dropped (provider state)"),
    ]
    # both were retried, so the receiver has every webhook exactly once
    received = sorted(
        verify_webhook(r.body, r.headers, account.webhook_secret)["sequenceNumber"]
        for r in receiver.received
    )
    assert received == list(range(1, 10))


def test_a_webhook_is_lost_when_every_attempt_is_dropped(
    client: httpx.Client, emulator: HeliosEmulator, account: Account, receiver: Receiver
) -> None:
    account.drop_deliveries(1000)
    run_id = run_once(emulator, client, agent_request("light", receiver.url), "/api/v1/agent")
    account.drop_deliveries(0)
    assert receiver.received == []
    assert len(emulator.deliveries_for(run_id)) == 9 * 4  # the default: 4 attempts each


def test_slow_deliveries_keep_the_run_active_meanwhile(
    emulator: HeliosEmulator, client: httpx.Client, account: Account, receiver: Receiver
) -> None:
    account.slow_deliveries(0.1)
    first = client.post("/api/v1/agent", json=agent_request("light", receiver.url))
    second = client.post("/api/v1/agent", json=agent_request("light", receiver.url))
    assert first.headers["X-Concurrent-Active"] == "1"
    assert second.headers["X-Concurrent-Active"] == "2"
    emulator.wait_for_deliveries()
    account.slow_deliveries(0)
    assert len(receiver.received) == 18


def test_the_secret_can_be_regenerated_in_the_middle_of_a_run(
    emulator: HeliosEmulator, client: httpx.Client, account: Account, receiver: Receiver
) -> None:
    old = account.webhook_secret
    account.regenerate_secret_during_next_run(after_step=2)
    run_once(emulator, client, agent_request("light", receiver.url), "/api/v1/agent")
    new = account.webhook_secret
    assert new != old
    signed_with = [
        "old"
        if _verifies(r.body, r.headers, old)
        else "new"
        if _verifies(r.body, r.headers, new)
        else "neither"
        for r in receiver.received
    ]
    assert signed_with == ["old", "old", *["new"] * 7]


def _verifies(body: bytes, headers: dict[str, str], secret: str) -> bool:
    from pytest_helios import WebhookVerificationError

    try:
        verify_webhook(body, headers, secret)
    except WebhookVerificationError:
        return False
    return True


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda a: a.fail_next_run(""), "message must be a non-empty string, got ''"),
        (lambda a: a.fail_next_run(at_step=0), "at_step must be a whole number from 1 to 9, got 0"),
        (lambda a: a.slow_deliveries(-1), "delay must be a number of seconds from 0 to 60, got -1"),
        (lambda a: a.drop_deliveries(-1), "count must be a whole number from 0 to 10,000, got -1"),
        (
            lambda a: a.regenerate_secret_during_next_run(0),
            "after_step must be a whole number from 1 to 8, got 0",
        ),
    ],
)
def test_bad_provider_state_arguments_are_refused_clearly(
    account: Account, call: object, message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        call(account)  # type: ignore[operator]
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("delay", "shown"),
    [(math.inf, "inf"), (math.nan, "nan"), (61, "61"), (True, "True"), ("1", "'1'")],
)
def test_a_delivery_delay_outside_its_range_is_refused_naming_value_and_range(
    account: Account, delay: object, shown: str
) -> None:
    with pytest.raises(ValueError) as refused:
        account.slow_deliveries(delay)  # type: ignore[arg-type]
    assert str(refused.value) == f"delay must be a number of seconds from 0 to 60, got {shown}"
    assert account.states.delivery_delay == 0


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            b'{"state": "slow-deliveries", "delay": 1e999}',
            {"field": "delay", "message": "must be a number of seconds from 0 to 60, got inf"},
        ),
        (
            b'{"state": "slow-deliveries", "delay": 1' + b"0" * 400 + b"}",
            {
                "field": "delay",
                "message": "must be a number of seconds from 0 to 60, got 1" + "0" * 56 + "...",
            },
        ),
        (
            b'{"state": "drop-deliveries", "count": 10001}',
            {"field": "count", "message": "must be a whole number from 0 to 10,000, got 10001"},
        ),
        (
            b'{"state": "fail-next-run", "atStep": 10}',
            {"field": "atStep", "message": "must be a whole number from 1 to 9, got 10"},
        ),
        (
            b'{"state": "exhaust-concurrency", "active": -1}',
            {"field": "active", "message": "must be a whole number from 0 to 1,000,000, got -1"},
        ),
    ],
)
def test_a_provider_state_out_of_range_over_http_is_a_400_naming_the_field(
    emulator: HeliosEmulator, account: Account, body: bytes, detail: dict[str, str]
) -> None:
    response = post(
        f"{emulator.url}/_emulator/accounts/{account.id}/states",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["details"] == [detail]
    assert account.states.delivery_delay == 0


def test_ending_slow_deliveries_releases_the_runs_waiting_on_them(receiver: Receiver) -> None:
    """Seven runs wait out a long delay and hold every slot; ending the state lets them go."""
    with HeliosEmulator() as emu:
        account = emu.create_account("slow")
        key = account.create_key("ci").value
        account.slow_deliveries(60)
        body = agent_request("light", receiver.url)
        runs = [post_as(key, emu.url, body=body).json()["runId"] for _ in range(7)]
        assert post_as(key, emu.url, body=body).status_code == 429
        account.slow_deliveries(0)
        for run_id in runs:
            emu.wait_for_deliveries(timeout=20, run_id=run_id)
        assert {emu.run(run_id).status for run_id in runs} == {"completed"}
        assert post_as(key, emu.url, body=body).status_code == 200
        emu.wait_for_deliveries(timeout=20)
