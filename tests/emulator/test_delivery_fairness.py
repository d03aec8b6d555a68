"""Each account has delivery capacity of its own: an account whose receiver hangs cannot hold up
another account's webhooks."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from pytest_helios.emulator import HeliosEmulator
from tests.samples import lab_request

from .conftest import post_as
from .receiver import BlackHole, Receiver


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
