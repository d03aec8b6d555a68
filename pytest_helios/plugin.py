"""The pytest plugin (entry point ``helios``): options, ini values, markers, hooks and fixtures.

Everything heavy (vcrpy, jsonschema, hypothesis, the emulator's server) is imported inside the
fixtures and hooks that need it, so a suite that never uses a helios fixture pays nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import pytest_helios
from pytest_helios import _settings

if TYPE_CHECKING:
    from pytest_helios.webhooks import WebhookFactory


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("helios", "Helios API testing (pytest-helios)")
    _settings.add_options(parser, group)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_settings.settings_key] = _settings.read(config)


def pytest_report_header(config: pytest.Config) -> str:
    settings = _settings.of(config)
    if settings.live:
        target = f"target=live {settings.base_url}"
    else:
        target = "target=emulator (started on first use)"
    return f"helios: {pytest_helios.__version__}, {target}"


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
