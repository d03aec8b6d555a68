"""Fixtures of the cassette tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_helios.emulator import HeliosEmulator


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeliosEmulator]:
    """An emulator whose account's key and webhook secret the inner test runs find in
    ``HELIOS_API_KEY`` and ``HELIOS_WEBHOOK_SECRET`` (test_recording.py overrides it with one
    that sets the key alone)."""
    with HeliosEmulator() as emu:
        account = emu.create_account("cassettes")
        monkeypatch.setenv("HELIOS_API_KEY", account.create_key("ci").value)
        monkeypatch.setenv("HELIOS_WEBHOOK_SECRET", account.webhook_secret)
        yield emu
