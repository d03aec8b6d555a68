"""Failed deliveries are retried with exponential backoff, and every attempt is logged."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from pytest_helios import verify_webhook
from pytest_helios.emulator import HeliosEmulator
from tests.samples import agent_request

from .conftest import post
from .receiver import Receiver, running_receiver


@pytest.fixture
def fast_emulator() -> Iterator[HeliosEmulator]:
    with HeliosEmulator(delivery_attempts=3, delivery_backoff=0.01, delivery_timeout=0.5) as emu:
        yield emu


def submit(emu: HeliosEmulator, webhook_url: str) -> str:
    key = emu.create_account("acme").create_key("ci")
    response = post(
        emu.url + "/api/v1/agent",
        headers={"x-api-key": key.value},
        json=agent_request("light", webhook_url),
    )
    return str(response.json()["runId"])


def test_a_non_2xx_answer_is_retried_until_it_succeeds(
    fast_emulator: HeliosEmulator, receiver: Receiver
) -> None:
    receiver.answer(1, 500, 503)
    run_id = submit(fast_emulator, receiver.url)
    fast_emulator.wait_for_deliveries()
    first = [a for a in fast_emulator.deliveries_for(run_id) if a.sequence_number == 1]
    assert [(a.attempt, a.status_code, a.error) for a in first] == [
        (1, 500, "HTTP 500"),
        (2, 503, "HTTP 503"),
        (3, 200, None),
    ]
    assert all(a.url == receiver.url and a.run_id == run_id for a in first)
    assert first[0].sent_at < first[1].sent_at < first[2].sent_at
    assert first[0].body == first[2].body  # a retry resends the same bytes
    # the run went on meanwhile: the other webhooks arrived at their first attempt
    secret = fast_emulator.account(fast_emulator.run(run_id).account_id).webhook_secret
    arrived = [verify_webhook(r.body, r.headers, secret) for r in receiver.received]
    assert sorted(p["sequenceNumber"] for p in arrived) == [1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9]


def test_a_webhook_that_never_succeeds_is_given_up_after_the_last_attempt(
    fast_emulator: HeliosEmulator, receiver: Receiver
) -> None:
    receiver.answer(1, 500, 500, 500)
    run_id = submit(fast_emulator, receiver.url)
    fast_emulator.wait_for_deliveries()
    first = [a for a in fast_emulator.deliveries_for(run_id) if a.sequence_number == 1]
    assert [a.attempt for a in first] == [1, 2, 3]
    assert not any(a.ok for a in first)


def test_a_refused_connection_is_logged_and_retried(fast_emulator: HeliosEmulator) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run_id = submit(fast_emulator, f"http://127.0.0.1:{port}/hook")
    fast_emulator.wait_for_deliveries()
    log = fast_emulator.deliveries_for(run_id)
    assert {a.error for a in log} == {"connection refused"}
    assert {a.status_code for a in log} == {None}
    assert len(log) == 9 * 3


def test_a_receiver_slower_than_the_timeout_is_a_timeout(receiver: Receiver) -> None:
    receiver.delay = 0.3
    with HeliosEmulator(delivery_attempts=2, delivery_backoff=0, delivery_timeout=0.1) as emu:
        run_id = submit(emu, receiver.url)
        emu.wait_for_deliveries()
        first = [a for a in emu.deliveries_for(run_id) if a.sequence_number == 1]
    assert [(a.attempt, a.error) for a in first] == [(1, "timeout"), (2, "timeout")]


def test_a_retry_is_signed_with_the_secret_current_at_sending_time(receiver: Receiver) -> None:
    receiver.answer(1, 500)
    with HeliosEmulator(delivery_attempts=2, delivery_backoff=0.2) as emu:
        account = emu.create_account("acme")
        key = account.create_key("ci")
        old = account.webhook_secret
        post(
            emu.url + "/api/v1/agent",
            headers={"x-api-key": key.value},
            json=agent_request("light", receiver.url),
        )
        deadline = time.monotonic() + 5
        while not emu.deliveries and time.monotonic() < deadline:  # the first attempt failed
            time.sleep(0.005)
        new = account.regenerate_webhook_secret()  # before the retry, 0.2 s later
        emu.wait_for_deliveries()
    first, retried = [r for r in receiver.received if b'"sequenceNumber":1,' in r.body]
    assert verify_webhook(first.body, first.headers, old)["sequenceNumber"] == 1
    assert verify_webhook(retried.body, retried.headers, new)["sequenceNumber"] == 1


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("delivery_attempts", 0, "delivery_attempts must be at least 1, got 0"),
        ("delivery_backoff", -1, "delivery_backoff must be 0 or more seconds, got -1"),
        ("delivery_timeout", 0, "delivery_timeout must be more than 0 seconds, got 0"),
    ],
)
def test_bad_delivery_settings_are_refused_with_the_option_named(
    option: str, value: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        HeliosEmulator(**{option: value})  # type: ignore[arg-type]


def test_waiting_for_one_run_is_not_held_up_by_another_runs_retries(receiver: Receiver) -> None:
    with (
        running_receiver() as failing,
        HeliosEmulator(delivery_attempts=3, delivery_backoff=10.0) as emu,
    ):
        failing.answer(1, 500)  # its first webhook is retried 10 s later: still pending below
        retrying = submit(emu, failing.url)
        delivered = submit(emu, receiver.url)
        log = emu.wait_for_deliveries(timeout=5, run_id=delivered)
        assert not emu.core.settled(retrying)  # returned while the other run still retries
        assert [(a.sequence_number, a.ok) for a in log] == [(n, True) for n in range(1, 10)]
        with pytest.raises(TimeoutError, match=r"^webhook deliveries still retrying after 0.1 s$"):
            emu.wait_for_deliveries(timeout=0.1)
        with pytest.raises(
            TimeoutError,
            match=rf"^webhook deliveries of run {retrying} still retrying after 0.1 s$",
        ):
            emu.wait_for_deliveries(timeout=0.1, run_id=retrying)
        over_http = post(
            emu.url + "/_emulator/wait", json={"runId": delivered, "timeout": 5}
        ).json()
        assert over_http == {"settled": True, "deliveries": 9}
        pending = post(emu.url + "/_emulator/wait", json={"runId": retrying, "timeout": 0.1})
        assert pending.status_code == 408
        assert pending.json()["message"] == (
            f"Run {retrying} or its deliveries still pending after 0.1 s"
        )


def test_waiting_for_a_run_the_emulator_does_not_have_names_it(emulator: HeliosEmulator) -> None:
    with pytest.raises(KeyError, match="no run with id 'nope'"):
        emulator.wait_for_deliveries(run_id="nope")
    response = post(emulator.url + "/_emulator/wait", json={"runId": "nope"})
    assert response.status_code == 404
    assert response.json()["message"] == "No run 'nope' on this emulator"


def test_forgetting_settled_runs_keeps_runs_still_retrying_and_the_accounts(
    receiver: Receiver,
) -> None:
    with (
        running_receiver() as failing,
        HeliosEmulator(delivery_attempts=3, delivery_backoff=10.0) as emu,
    ):
        failing.answer(1, 500)  # retried 10 s later: still pending while we forget
        retrying = submit(emu, failing.url)
        settled = submit(emu, receiver.url)
        emu.wait_for_deliveries(timeout=5, run_id=settled)
        accounts = len(emu.accounts)

        assert emu.forget_settled_runs() == (1, 9)

        assert [run.id for run in emu.runs] == [retrying]
        assert {a.run_id for a in emu.deliveries} == {retrying}
        with pytest.raises(KeyError, match=f"no run with id '{settled}'"):
            emu.run(settled)
        assert len(emu.accounts) == accounts
        over_http = post(emu.url + "/_emulator/forget", json={})
        assert over_http.json() == {"runs": 0, "deliveries": 0}  # the other is still retrying
