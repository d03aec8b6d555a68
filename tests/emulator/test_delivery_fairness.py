"""Each account has delivery capacity of its own: an account whose receiver hangs cannot hold up
another account's webhooks."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from pytest_helios.emulator import HeliosEmulator
from tests.samples import lab_request

from .conftest import post_as
from .receiver import Receiver


class BlackHole:
    """A loopback port that accepts every connection and never answers."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self._listener.settimeout(0.05)
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="test-black-hole")
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/webhook"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with self._lock:
                self._held.append(conn)

    @property
    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def __enter__(self) -> BlackHole:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()
        with self._lock:
            for conn in self._held:
                conn.close()


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
