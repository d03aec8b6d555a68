"""The pytest plugin (entry point ``helios``): options, ini values, markers, hooks and fixtures.

Everything heavy (vcrpy, jsonschema, hypothesis, the emulator's server) is imported inside the
fixtures and hooks that need it, so a suite that never uses a helios fixture pays nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import pytest_helios
from pytest_helios import _marker, _settings

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytest_helios.client import AsyncHeliosClient, HeliosClient
    from pytest_helios.emulator import Account, HeliosEmulator
    from pytest_helios.receiver import WebhookReceiver
    from pytest_helios.webhooks import WebhookFactory


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_helios import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("helios", "Helios API testing (pytest-helios)")
    _settings.add_options(parser, group)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_settings.settings_key] = _settings.read(config)
    config.addinivalue_line("markers", _marker.MARKER_HELP)


def pytest_runtest_setup(item: pytest.Item) -> None:
    _marker.skip_for_target(item)


def pytest_report_header(config: pytest.Config) -> str:
    settings = _settings.of(config)
    if settings.live:
        target = f"target=live {settings.base_url}"
    else:
        target = "target=emulator (started on first use)"
    return f"helios: {pytest_helios.__version__}, {target}"


@pytest.fixture
def fake_webhook(helios_webhook_secret: str) -> WebhookFactory:
    """Factory of signed fake Helios webhooks: every kind, named variants, whole runs."""
    from pytest_helios.webhooks import WebhookFactory

    return WebhookFactory(helios_webhook_secret)


# --- target: the embedded emulator by default, the real API with --helios-live ---------------


def _live_only_value(variable: str, needed_for: str) -> str:
    """A value --helios-live reads from the environment; skip naming the variable if unset."""
    import os

    value = os.environ.get(variable, "")
    if not value:
        pytest.skip(f"{variable} is not set: --helios-live needs it for {needed_for}")
    return value


def _is_live(request: pytest.FixtureRequest) -> bool:
    return _settings.of(request.config).live


@pytest.fixture(scope="session")
def helios_emulator(request: pytest.FixtureRequest) -> Iterator[HeliosEmulator]:
    """The embedded Helios emulator, started on first use, one per session (or xdist worker)."""
    if _is_live(request):
        pytest.skip("helios_emulator needs the embedded emulator, and the target is --helios-live")
    from pytest_helios.emulator import HeliosEmulator

    with HeliosEmulator() as emulator:
        yield emulator


@pytest.fixture
def helios_account(request: pytest.FixtureRequest, helios_emulator: HeliosEmulator) -> Account:
    """A fresh emulator account for this test, with its own keys and webhook secret."""
    return helios_emulator.create_account(f"pytest {request.node.nodeid}")


@pytest.fixture
def helios_api_key(request: pytest.FixtureRequest) -> str:
    """An API key of the test account (live: HELIOS_API_KEY)."""
    if _is_live(request):
        return _live_only_value("HELIOS_API_KEY", "the API key of the account under test")
    account: Account = request.getfixturevalue("helios_account")
    return account.create_key("pytest").value


@pytest.fixture
def helios_webhook_secret(request: pytest.FixtureRequest) -> str:
    """The test account's current webhook secret (live: HELIOS_WEBHOOK_SECRET)."""
    from pytest_helios.signing import MaskedSecret  # masked in tracebacks, the secret in use

    if _is_live(request):
        live = _live_only_value("HELIOS_WEBHOOK_SECRET", "the account's webhook secret")
        return MaskedSecret(live)
    account: Account = request.getfixturevalue("helios_account")
    return MaskedSecret(account.webhook_secret)


@pytest.fixture
def revoked_key(request: pytest.FixtureRequest) -> str:
    """A key the target refuses as revoked (live: HELIOS_REVOKED_API_KEY)."""
    if _is_live(request):
        return _live_only_value("HELIOS_REVOKED_API_KEY", "a revoked key of the account")
    account: Account = request.getfixturevalue("helios_account")
    key = account.create_key("revoked by pytest")
    account.revoke_key(key)
    return key.value


@pytest.fixture
def foreign_key(request: pytest.FixtureRequest) -> str:
    """A valid key of another account, refused by the target (live: HELIOS_FOREIGN_API_KEY)."""
    if _is_live(request):
        return _live_only_value("HELIOS_FOREIGN_API_KEY", "a valid key of a different account")
    emulator: HeliosEmulator = request.getfixturevalue("helios_emulator")
    other = emulator.create_account(f"pytest foreign {request.node.nodeid}")
    return other.create_key("foreign").value


def _base_url(request: pytest.FixtureRequest) -> str:
    if _is_live(request):
        return _settings.of(request.config).base_url
    account: Account = request.getfixturevalue("helios_account")
    return account.base_url


@pytest.fixture
def helios_client(request: pytest.FixtureRequest, helios_api_key: str) -> Iterator[HeliosClient]:
    """A HeliosClient of the target, ready to call with the test account's key."""
    from pytest_helios import _hooks
    from pytest_helios.client import HeliosClient

    options = _hooks.client_options(request.config)
    with HeliosClient(helios_api_key, base_url=_base_url(request), **options) as client:
        yield client


@pytest.fixture
def helios_async_client(request: pytest.FixtureRequest, helios_api_key: str) -> AsyncHeliosClient:
    """An AsyncHeliosClient of the target, ready to await with the test account's key."""
    from pytest_helios import _hooks
    from pytest_helios.client import AsyncHeliosClient

    options = _hooks.client_options(request.config)
    return AsyncHeliosClient(helios_api_key, base_url=_base_url(request), **options)


@pytest.fixture
def helios_webhook_receiver(request: pytest.FixtureRequest) -> Iterator[WebhookReceiver]:
    """A local webhookUrl endpoint that captures and verifies the test account's deliveries."""
    from pytest_helios.receiver import WebhookReceiver

    timeout = (
        _marker.options(request.node).webhook_timeout
        or _settings.of(request.config).webhook_timeout
    )
    if _is_live(request):
        secret = _live_only_value("HELIOS_WEBHOOK_SECRET", "the account's webhook secret")
        receiver = WebhookReceiver(secret, default_timeout=timeout)
    else:
        account: Account = request.getfixturevalue("helios_account")
        receiver = WebhookReceiver(lambda: account.webhook_secret, default_timeout=timeout)
    with receiver:
        yield receiver
