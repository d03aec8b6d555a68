"""Fault injection as a client meets it: each request fault of the emulator, through
``HeliosClient`` and ``AsyncHeliosClient``, raises the error a team's code has to handle."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest

from pytest_helios import AsyncHeliosClient, HeliosClient, HeliosError
from pytest_helios.emulator import Account, HeliosEmulator

LABS = [{"name": "Creatinine", "value": "1.8 mg/dL", "flag": "High"}]
HOOK = "https://example.test/hook"


def submit(client: HeliosClient) -> str:
    return client.submit_lab_results(lab_results=LABS, webhook_url=HOOK).run_id


def path_of(account: Account) -> str:
    return f"POST /accounts/{account.id}/api/v1/lab-results"


@pytest.mark.parametrize(
    ("status", "phrase"),
    [(500, "Internal Server Error"), (502, "Bad Gateway"), (503, "Service Unavailable")],
)
def test_a_server_error_fault_raises_a_helios_error_with_its_status(
    helios_client: HeliosClient, helios_account: Account, status: int, phrase: str
) -> None:
    helios_account.fault_requests("status", status=status)

    with pytest.raises(HeliosError) as raised:
        submit(helios_client)

    assert raised.value.status_code == status
    assert raised.value.message == (
        f"{path_of(helios_account)} answered {status}: {phrase}: "
        f"The emulator answers {status} (fault injection: fault_requests)"
    )
    assert submit(helios_client)  # the fault took one request; the next is accepted


def test_a_held_answer_makes_the_client_time_out(
    helios_account: Account, helios_api_key: str, helios_base_url: str
) -> None:
    helios_account.fault_requests("timeout", delay=120)

    with (
        HeliosClient(helios_api_key, base_url=helios_base_url, timeout=0.5) as client,
        pytest.raises(HeliosError) as raised,
    ):
        submit(client)

    assert raised.value.message == "POST /api/v1/lab-results failed: ReadTimeout: timed out"
    assert raised.value.status_code is None


def test_a_reset_connection_raises_a_helios_error_saying_the_peer_reset_it(
    helios_client: HeliosClient, helios_account: Account
) -> None:
    helios_account.fault_requests("reset")

    with pytest.raises(HeliosError) as raised:
        submit(helios_client)

    assert re.fullmatch(
        r"POST /api/v1/lab-results failed: ReadError: \[Errno \d+\] Connection reset by peer",
        raised.value.message,
    )


def test_a_truncated_body_raises_a_helios_error_naming_the_bytes_missing(
    helios_client: HeliosClient, helios_account: Account
) -> None:
    helios_account.fault_requests("truncated")

    with pytest.raises(HeliosError) as raised:
        submit(helios_client)

    assert raised.value.message == (
        "POST /api/v1/lab-results failed: RemoteProtocolError: peer closed connection without "
        "sending complete message body (received 70 bytes, expected 141)"
    )


def test_a_malformed_body_raises_a_helios_error_showing_the_body(
    helios_client: HeliosClient, helios_account: Account
) -> None:
    helios_account.fault_requests("malformed")

    with pytest.raises(HeliosError) as raised:
        submit(helios_client)

    assert raised.value.status_code == 200
    assert raised.value.body is None  # not JSON
    assert raised.value.message.startswith(
        f'{path_of(helios_account)} answered 200 without a runId; body: {{"runId":"'
    )
    assert raised.value.message.endswith('","status":"accepted","m')


def test_a_200_without_a_run_id_raises_a_helios_error_saying_so(
    helios_client: HeliosClient, helios_account: Account
) -> None:
    helios_account.fault_requests("no-run-id")

    with pytest.raises(HeliosError) as raised:
        submit(helios_client)

    assert raised.value.message == (
        f"{path_of(helios_account)} answered 200 without a runId; body: "
        '{"status":"accepted","message":"Request accepted. Results will be delivered to your '
        'webhook."}'
    )


def test_a_slow_accept_past_the_clients_timeout_still_starts_the_run(
    helios_emulator: HeliosEmulator,
    helios_account: Account,
    helios_api_key: str,
    helios_base_url: str,
) -> None:
    """The client gave up, yet the run was accepted: the "did it go through?" case."""
    helios_account.fault_requests("slow-accept", delay=300)

    with (
        HeliosClient(helios_api_key, base_url=helios_base_url, timeout=0.2) as client,
        pytest.raises(HeliosError, match="ReadTimeout"),
    ):
        submit(client)
    helios_account.end_faults()  # the held request goes on at once
    accepted = threading.Event()
    while not any(r.account_id == helios_account.id for r in helios_emulator.runs):
        accepted.wait(0.001)

    (run,) = [r for r in helios_emulator.runs if r.account_id == helios_account.id]
    assert run.agent == "lab-results"


def test_ending_the_faults_releases_a_held_request_at_once(
    helios_client: HeliosClient, helios_account: Account
) -> None:
    helios_account.fault_requests("slow-accept", delay=300)
    outcome: list[str] = []
    caller = threading.Thread(target=lambda: outcome.append(submit(helios_client)))
    caller.start()
    while helios_account.states.request_faults:  # until the request has met the fault
        caller.join(0.001)

    helios_account.end_faults()
    caller.join()

    assert len(outcome) == 1  # accepted, long before the 300 s


def test_a_held_timeout_is_answered_504_once_the_faults_end(
    helios_client: HeliosClient, helios_account: Account
) -> None:
    helios_account.fault_requests("timeout", delay=300)
    errors: list[HeliosError] = []

    def call() -> None:
        try:
            submit(helios_client)
        except HeliosError as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    while helios_account.states.request_faults:
        caller.join(0.001)
    helios_account.end_faults()
    caller.join()

    (error,) = errors
    assert error.status_code == 504
    assert error.message == (
        f"{path_of(helios_account)} answered 504: Gateway Timeout: "
        "The emulator held this answer (fault injection: timeout)"
    )


def test_a_fault_without_a_count_lasts_until_the_faults_end(
    helios_client: HeliosClient, helios_account: Account
) -> None:
    helios_account.fault_requests("status", status=502, count=None)

    statuses = []
    for _ in range(3):
        with pytest.raises(HeliosError) as raised:
            submit(helios_client)
        statuses.append(raised.value.status_code)
    helios_account.end_faults()

    assert statuses == [502, 502, 502]
    assert submit(helios_client)


def test_faults_queue_up_in_the_order_they_were_set(
    helios_client: HeliosClient, helios_account: Account
) -> None:
    helios_account.fault_requests("status", status=500, count=2)
    helios_account.fault_requests("no-run-id")

    seen = []
    for _ in range(3):
        with pytest.raises(HeliosError) as raised:
            submit(helios_client)
        seen.append(raised.value.status_code)

    assert seen == [500, 500, 200]
    assert submit(helios_client)


def test_the_async_client_meets_the_same_faults(
    helios_async_client: AsyncHeliosClient, helios_account: Account
) -> None:
    helios_account.fault_requests("status", status=503)

    async def main() -> HeliosError:
        async with helios_async_client as client:
            with pytest.raises(HeliosError) as raised:
                await client.submit_lab_results(lab_results=LABS, webhook_url=HOOK)
            return raised.value

    assert asyncio.run(main()).status_code == 503


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda a: a.fault_requests("teapot"),
            "fault must be one of status, timeout, reset, malformed, truncated, no-run-id, "
            "slow-accept, got 'teapot'",
        ),
        (
            lambda a: a.fault_requests("status", status=200),
            "status must be a whole number from 500 to 599, got 200",
        ),
        (
            lambda a: a.fault_requests("timeout", delay=float("inf")),
            "delay must be a number of seconds above 0 to 300, got inf",
        ),
        (
            lambda a: a.fault_requests("slow-accept", delay=0),
            "delay must be a number of seconds above 0 to 300, got 0",
        ),
        (
            lambda a: a.fault_requests("slow-accept"),
            "delay must be given for slow-accept, got None",
        ),
        (
            lambda a: a.fault_requests("reset", count=0),
            "count must be a whole number from 1 to 10,000, got 0",
        ),
        (
            lambda a: a.duplicate_deliveries(-1),
            "count must be a whole number from 0 to 10,000, got -1",
        ),
        (
            lambda a: a.bad_signatures(True),
            "count must be a whole number from 0 to 10,000, got True",
        ),
    ],
)
def test_a_bad_fault_value_is_refused_naming_the_argument_the_value_and_the_range(
    helios_account: Account, call: object, message: str
) -> None:
    with pytest.raises(ValueError) as raised:
        call(helios_account)  # type: ignore[operator]

    assert str(raised.value) == message
