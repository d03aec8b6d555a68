"""The pytest plugin (entry point ``helios``): options, ini values, markers and fixtures.

Everything heavy (vcrpy, jsonschema, hypothesis, the emulator's server) is imported inside the
fixtures and hooks that need it, so a suite that never uses a helios fixture pays nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import pytest_helios

if TYPE_CHECKING:
    from pytest_helios.webhooks import WebhookFactory


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("helios", "Helios API testing (pytest-helios)")
    group.addoption(
        "--helios-live",
        action="store_true",
        default=None,
        help="target the real Helios API with HELIOS_API_KEY instead of the embedded emulator "
        "(ini: helios_live).",
    )
    parser.addini(
        "helios_live",
        type="bool",
        default=False,
        help="target the real Helios API instead of the embedded emulator.",
    )


def _target(config: pytest.Config) -> str:
    live = config.getoption("helios_live")
    if live is None:
        live = config.getini("helios_live")
    return "live" if live else "emulator"


def pytest_report_header(config: pytest.Config) -> str:
    return f"helios: {pytest_helios.__version__}, target={_target(config)}"


# provisional: replaced when the emulator-backed account fixtures land
@pytest.fixture
def helios_webhook_secret() -> str:
    """The test account's webhook secret (for now a fresh random secret for each test)."""
    import secrets

    from pytest_helios.signing import MaskedSecret

    return MaskedSecret("whsec_" + secrets.token_hex(24))


# end provisional


@pytest.fixture
def fake_webhook(helios_webhook_secret: str) -> WebhookFactory:
    """Factory of signed fake Helios webhooks: every kind, named variants, whole runs."""
    from pytest_helios.webhooks import WebhookFactory

    return WebhookFactory(helios_webhook_secret)
