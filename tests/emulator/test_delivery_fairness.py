"""Each account has delivery capacity of its own: an account whose receiver hangs cannot hold up
another account's webhooks."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import pytest

from pytest_helios.emulator import HeliosEmulator
from tests.loopback import LoopbackServer, QuietHandler
from tests.samples import lab_request

from .conftest import post_as
from .receiver import BlackHole, Receiver, running_receiver


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    with BlackHole() as hole:
        yield hole


def test_a_quiet_accounts_run_completes_while_a_noisy_accounts_deliveries_hang(
    black_hole: BlackHole, receiver: Receiver
) -> None:
    with HeliosEmulator(concurrency_limit=50, delivery_timeout=120, delivery_attempts=1) as emu:
        noisy = emu.create_account("noisy").create_key("ci").value
        noisy_runs = [
            post_as(noisy, emu.url, "/api/v1/lab-results", lab_request(black_hole.url)).json()[
                "runId"
            ]
            for _ in range(21)
        ]
        for _ in range(2000):  # until the noisy account holds every connection it may
            if black_hole.held >= 16:
                break
            threading.Event().wait(0.01)
        assert black_hole.held >= 16
        quiet = emu.create_account("quiet").create_key("ci").value
        response = post_as(quiet, emu.url, "/api/v1/lab-results", lab_request(receiver.url))
        quiet_run = response.json()["runId"]
        attempts = emu.wait_for_deliveries(timeout=60, run_id=quiet_run)
        assert [a.ok for a in attempts] == [True] * 8
        assert emu.run(quiet_run).status == "completed"
        # ... while the noisy account's deliveries still hang
        assert not any(emu.run(run_id).ended for run_id in noisy_runs)
        assert emu.deliveries_for(noisy_runs[0]) == []


def test_another_accounts_receivers_do_not_close_an_accounts_idle_connection() -> None:
    """Idle connections are kept per account: twelve receivers of another account between two
    runs of a quiet account leave the quiet account's keep-alive connection open."""
    quiet_ports: list[int] = []

    class Counting(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.body()
            quiet_ports.append(self.client_address[1])
            self.reply(200)

    with (
        LoopbackServer(Counting) as quiet_receiver,
        contextlib.ExitStack() as others,
        HeliosEmulator() as emu,
    ):
        busy = [others.enter_context(running_receiver()) for _ in range(12)]
        quiet = emu.create_account("quiet").create_key("ci").value
        noisy = emu.create_account("noisy").create_key("ci").value
        hook = quiet_receiver.url + "/webhook"
        first = post_as(quiet, emu.url, "/api/v1/lab-results", lab_request(hook)).json()["runId"]
        emu.wait_for_deliveries(run_id=first)
        for receiver in busy:
            run = post_as(noisy, emu.url, "/api/v1/lab-results", lab_request(receiver.url))
            emu.wait_for_deliveries(run_id=run.json()["runId"])
        second = post_as(quiet, emu.url, "/api/v1/lab-results", lab_request(hook)).json()["runId"]
        emu.wait_for_deliveries(run_id=second)
    assert len(quiet_ports) == 16
    assert len(set(quiet_ports)) == 1  # one connection for both runs


def test_forgetting_an_account_closes_its_delivery_connections() -> None:
    """A session forgets each test's account: the connections it kept to that test's receiver
    go with it, rather than piling up for the rest of the session."""
    closed = threading.Event()

    class Keeping(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.body()
            self.reply(200)

        def finish(self) -> None:  # the emulator closed the kept connection
            super().finish()
            closed.set()

    with LoopbackServer(Keeping) as receiver, HeliosEmulator() as emu:
        account = emu.create_account("forgotten")
        key = account.create_key("ci").value
        hook = receiver.url + "/webhook"
        run_id = post_as(key, emu.url, "/api/v1/lab-results", lab_request(hook)).json()["runId"]
        emu.wait_for_deliveries(run_id=run_id)
        assert not closed.is_set()  # kept alive for the account's next webhooks
        emu.forget_account(account)
        assert closed.wait(timeout=10)
